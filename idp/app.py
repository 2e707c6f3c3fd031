"""`create_app(settings)`: the only wiring point. Builds the container and mounts the routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from idp.container import Container, build_container
from idp.http import interaction, logout, protocol
from idp.http.middleware import BodyLimit, HeaderLimit, HostCookies, SecurityHeaders
from idp.http.pages import error_page, gettext, locale_of, render
from idp.settings import Settings
from idp.store import EphemeralStore

log = logging.getLogger("mandat")

# A domain package that adds pages and routes registers an extension: (container, app) -> routes.
Extension = Callable[[Container], list[BaseRoute]]


async def home(request: Request) -> Response:
    return render(request, "home.html")


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def core_routes() -> list[BaseRoute]:
    return [
        Route("/", home),
        Route("/healthz", health),
        Route("/.well-known/openid-configuration", protocol.discovery),
        Route("/jwks", protocol.jwks),
        Route("/authorize", protocol.authorize, methods=["GET", "POST"]),
        Route("/token", protocol.token, methods=["POST"]),
        Route("/userinfo", protocol.userinfo, methods=["GET", "POST"]),
        Route("/token/introspect", protocol.introspect, methods=["POST"]),
        Route("/token/revoke", protocol.revoke, methods=["POST"]),
        Route("/session/end", logout.end_session_endpoint, methods=["GET", "POST"]),
        Route("/interaction/{uid}", interaction.show),
        Route("/interaction/{uid}/login", interaction.login, methods=["POST"]),
        Route("/interaction/{uid}/consent", interaction.consent, methods=["POST"]),
        Route("/interaction/{uid}/cancel", interaction.cancel, methods=["POST"]),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "http" / "static"), name="static"),
    ]


async def not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        allow = next((v for k, v in (exc.headers or {}).items() if k.lower() == "allow"), "")
        return JSONResponse({"error": "invalid_request", "error_description": "method not allowed"}, status_code=405,
                            headers={"cache-control": "no-store", "allow": allow})
    locale = locale_of(request)
    return error_page(request, gettext(locale, "Page not found"),
                      gettext(locale, "Check the address, or go back to the site you came from."), status=404,
                      locale=locale)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if request.url.path in {"/token", "/userinfo", "/token/introspect", "/token/revoke"}:
        return JSONResponse({"error": "server_error", "error_description": "internal error"}, status_code=500,
                            headers={"cache-control": "no-store"})
    locale = locale_of(request)
    return error_page(request, gettext(locale, "Something went wrong on our side"),
                      gettext(locale, "Please try again in a few minutes."), status=500, locale=locale)


def default_extensions() -> list[Extension]:
    """Domain packages that contribute routes, claims, scopes and login methods.

    Each is `extension(container) -> routes`; inside it may call `container.add_scopes`,
    `container.add_login_method`, append to `container.accounts.claim_sources` and put its service in
    `container.services`. The list lives in idp/extensions.py.
    """
    from idp.extensions import EXTENSIONS, load

    return load(EXTENSIONS)


def create_app(settings: Settings, *, store: EphemeralStore | None = None,
               extensions: list[Extension] | None = None) -> Starlette:
    container = build_container(settings, store=store)
    for warning in settings.dev_warnings():
        log.warning("DEV DEFAULT: %s", warning)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await container.audit.start()
        try:
            yield
        finally:
            await container.close()

    routes = core_routes()
    login_methods: list[dict[str, Any]] = container.services.setdefault("login_methods", [])
    for extension in extensions if extensions is not None else default_extensions():
        routes = extension(container) + routes
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_found, 500: server_error})
    app.state.container = container
    app.state.login_methods = login_methods
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HeaderLimit, max_count=settings.max_header_count, max_field_bytes=settings.max_header_bytes,
                       max_total_bytes=settings.max_headers_total_bytes)
    app.add_middleware(HostCookies, enabled=settings.secure_cookies)
    app.add_middleware(SecurityHeaders, hsts=settings.secure_cookies)
    return app
