"""`Observe`, the outermost ASGI middleware: request id, one access line per request, request metrics.

Plain ASGI (like idp/http/middleware.py) so the token endpoint pays microseconds. The route label is the
route's template (`/interaction/{uid}`), or `unmatched`, never the raw path.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idp.observability.logs import REQUEST_ID, request_id_from
from idp.observability.metrics import LATENCY, REQUESTS

__all__ = ["Observe"]

access = logging.getLogger("mandat.access")


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
                break
        request_id = request_id_from(incoming)
        token = REQUEST_ID.set(request_id)
        id_header = (b"x-request-id", request_id.encode())
        status = 500
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(label, method, str(status)).inc()
            LATENCY.labels(label).observe(elapsed)
            if access.isEnabledFor(logging.INFO):
                access.info("%s %s %s", method, label, status, extra={
                    "method": method, "route": label, "status": status, "duration_ms": round(elapsed * 1000, 2)})
            REQUEST_ID.reset(token)
