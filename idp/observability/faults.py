"""PostgreSQL or Redis unreachable: a clean 503 with Retry-After, never a 500.

Which exceptions mean "a storage backend is unreachable" (and not a bug):
- `StorageUnavailable`: RedisStore raises it for every Redis failure (idp/store.py);
- from PostgreSQL (asyncpg through SQLAlchemy): a refused or timed-out connection (`OSError`, raised raw by
  asyncpg's connect), a connection that died mid-query (`DBAPIError` with `connection_invalidated`, or asyncpg's
  connection errors), no free connection in the pool within the timeout (`sqlalchemy.exc.TimeoutError`).
Anything else is a bug and stays a 500.

What the client gets (RFC 6749 §5.2 and §4.1.2.1, RFC 9110 §15.6.4):
- the JSON protocol endpoints (token, userinfo, introspection, revocation): 503 `temporarily_unavailable`;
- /authorize, once the client and its redirect_uri are verified: the `temporarily_unavailable` error sent back
  to the client (idp/http/endpoints.py), as RFC 6749 §4.1.2.1 prescribes for a redirect;
- pages: 503 with the plain "briefly unavailable" page;
- all with `Retry-After: MANDAT_RETRY_AFTER_SECONDS` and `Cache-Control: no-store`.
Nothing was half-written: every write is one transaction, which PostgreSQL rolled back when the connection died.
"""

from __future__ import annotations

import logging

import sqlalchemy.exc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idp.errors import StorageUnavailable
from idp.oidc import paths

__all__ = ["HANDLED", "Unavailable", "backend_of", "unavailable_handler"]

log = logging.getLogger("mandat.faults")

# What `Unavailable` looks at; `backend_of` tells a fault from a bug among them.
HANDLED: tuple[type[BaseException], ...] = (StorageUnavailable, OSError, sqlalchemy.exc.DBAPIError,
                                             sqlalchemy.exc.TimeoutError)

_ASYNCPG_CONNECTION_ERRORS = {"ConnectionDoesNotExistError", "ConnectionFailureError", "CannotConnectNowError",
                              "PostgresConnectionError", "ConnectionRejectionError", "InterfaceError",
                              "AdminShutdownError", "CrashShutdownError", "TooManyConnectionsError"}


def backend_of(exc: BaseException) -> str | None:
    """"redis" or "database" when `exc` means that backend is unreachable; None for anything else."""
    if isinstance(exc, StorageUnavailable):
        return "redis" if exc.detail.startswith("Redis") else "database"
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return "database"
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return "database"
        original = getattr(exc.orig, "__cause__", None) or exc.orig
        names = {cls.__name__ for cls in type(original).__mro__} | {cls.__name__ for cls in type(exc.orig).__mro__}
        return "database" if names & _ASYNCPG_CONNECTION_ERRORS or isinstance(original, OSError) else None
    if isinstance(exc, ConnectionError | TimeoutError):
        return "database"
    return None


class Unavailable:
    """ASGI middleware: a storage fault raised anywhere below it (a route, or a middleware that reads the
    session before routing) becomes the 503 answer, unless the response has already
    started (then there is nothing clean left to say and the server closes the connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except HANDLED as exc:
            if started or backend_of(exc) is None:
                raise
            response = await unavailable_handler(Request(scope, receive), exc)
            await response(scope, receive, send)


async def unavailable_handler(request: Request, exc: BaseException) -> Response:
    backend = backend_of(exc)
    if backend is None:
        raise exc
    from idp.observability.metrics import STORAGE_ERRORS

    STORAGE_ERRORS.labels(backend).inc()
    log.warning("%s unreachable on %s %s: %s", backend, request.method, request.url.path, type(exc).__name__)
    container = request.app.state.container
    headers = {"retry-after": str(container.settings.retry_after_seconds), "cache-control": "no-store"}
    if request.url.path in paths.JSON_ENDPOINTS:
        return JSONResponse({"error": "temporarily_unavailable",
                             "error_description": "the service is briefly unavailable, retry later"},
                            status_code=503, headers=headers)
    from idp.http.pages import error_page, gettext, locale_of

    locale = locale_of(request)
    response = error_page(request, gettext(locale, "The service is briefly unavailable"),
                          gettext(locale, "Please try again in a minute."), status=503, locale=locale)
    response.headers.update(headers)
    return response
