"""`create_app(settings)`: the only wiring point. Builds the container and mounts the routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from idp.container import build_container
from idp.domains import DOMAINS, DomainFactory, load
from idp.http import endpoints, interaction, logout
from idp.http.acting_state import ActingState
from idp.http.middleware import BodyLimit, HeaderLimit, HostCookies, SecurityHeaders
from idp.http.pages import error_page, gettext, locale_of, render
from idp.jobs import JobRunner
from idp.observability import faults
from idp.observability.http import Observe
from idp.observability.metrics import count_authentications
from idp.observability.readiness import readyz
from idp.oidc import paths
from idp.settings import Settings
from idp.store import EphemeralStore

log = logging.getLogger("mandat")


async def home(request: Request) -> Response:
    return render(request, "home.html")


async def health(request: Request) -> Response:
    """Liveness: the process answers. Readiness (PostgreSQL, Redis) is /readyz."""
    return JSONResponse({"status": "ok"}, headers={"cache-control": "no-store"})


def core_routes() -> list[BaseRoute]:
    return [
        Route("/", home),
        Route("/healthz", health),
        Route("/readyz", readyz),
        Route(paths.DISCOVERY, endpoints.discovery),
        Route(paths.JWKS, endpoints.jwks),
        Route(paths.AUTHORIZE, endpoints.authorize, methods=["GET", "POST"]),
        Route(paths.TOKEN, endpoints.token, methods=["POST"]),
        Route(paths.USERINFO, endpoints.userinfo, methods=["GET", "POST"]),
        Route(paths.INTROSPECT, endpoints.introspect, methods=["POST"]),
        Route(paths.REVOKE, endpoints.revoke, methods=["POST"]),
        Route(paths.END_SESSION, logout.end_session_endpoint, methods=["GET", "POST"]),
        Route(paths.INTERACTION, interaction.show),
        Route(paths.INTERACTION + "/consent", interaction.consent, methods=["POST"]),
        Route(paths.INTERACTION + "/cancel", interaction.cancel, methods=["POST"]),
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
    if request.url.path in paths.JSON_ENDPOINTS:
        return JSONResponse({"error": "server_error", "error_description": "internal error"}, status_code=500,
                            headers={"cache-control": "no-store"})
    locale = locale_of(request)
    return error_page(request, gettext(locale, "Something went wrong on our side"),
                      gettext(locale, "Please try again in a few minutes."), status=500, locale=locale)


def default_domains() -> list[DomainFactory]:
    """The domain packages listed in idp/domains.py, each contributing one typed `Domain`."""
    return load(DOMAINS)


def create_app(settings: Settings, *, store: EphemeralStore | None = None,
               domains: list[DomainFactory] | None = None) -> Starlette:
    container = build_container(settings, store=store)
    count_authentications(container.audit)
    for warning in settings.dev_warnings():
        log.warning("DEV DEFAULT: %s", warning)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await container.audit.start()
        jobs = JobRunner(container.jobs)
        jobs.start()
        try:
            yield
        finally:
            await jobs.stop()
            await container.close()

    domain_routes: list[BaseRoute] = []
    for factory in domains if domains is not None else default_domains():
        domain = factory(container)
        if domain is not None:
            container.register(domain)
            domain_routes.extend(domain.routes)
    # Core routes first: Starlette tries routes in order, and the protocol endpoints (token, userinfo,
    # introspection) are the hot paths; domain paths never overlap them.
    app = Starlette(routes=core_routes() + domain_routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_found, 500: server_error})
    app.state.container = container
    app.add_middleware(ActingState)  # innermost: pages learn whom the session acts for (the banner)
    # PostgreSQL or Redis unreachable, in a route or in the middleware above: 503 + Retry-After, never 500
    # (inside the header middlewares, so the 503 carries the security headers too).
    app.add_middleware(faults.Unavailable)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HeaderLimit, max_count=settings.max_header_count, max_field_bytes=settings.max_header_bytes,
                       max_total_bytes=settings.max_headers_total_bytes)
    app.add_middleware(HostCookies, enabled=settings.secure_cookies)
    app.add_middleware(SecurityHeaders, hsts=settings.secure_cookies)
    app.add_middleware(Observe)  # outermost: request id, access line and metrics for every answer
    return app
