"""Whom a browser's SSO session acts for, known to every page: `request.state.acting` (an `Acting`, or absent).

`idp.http.pages.render` hands it to base.html, which shows the "acting for …" banner with its "back to myself"
button on every page, whatever package renders it. Only page requests (GET/HEAD, not the protocol, static or
API paths) of a browser holding a session cookie pay for it: one read of the session, which is not touched (its
idle timeout is not extended by merely looking).
"""

from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from idp.http.cookies import SESSION
from idp.oidc import paths
from idp.oidc.sessions import load_session

__all__ = ["ActingState"]

# Not pages: protocol endpoints, machine APIs, files.
_SKIPPED_PREFIXES = ("/static/", "/.well-known/", "/admin/api/", "/jwks", "/healthz", "/readyz", "/metrics",
                     paths.AUTHORIZE, *paths.JSON_ENDPOINTS)


class ActingState:
    """Pure ASGI: runs inside `HostCookies`, so it reads the logical cookie name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and \
                not scope["path"].startswith(_SKIPPED_PREFIXES):
            token = _cookie(scope, SESSION)
            if token:
                container = scope["app"].state.container
                session = await load_session(container.provider, token, touch=False)
                if session is not None and session.acting_for is not None:
                    scope.setdefault("state", {})["acting"] = session.acting_for
        await self.app(scope, receive, send)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope["headers"]:
        if key == b"cookie":
            return cookie_parser(value.decode("latin-1")).get(name)
    return None
