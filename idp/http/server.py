"""The uvicorn options every Mandat server shares (`mandat serve` and `mandat demo run`).

No `server` header (it names the software and version to every scanner); client addresses come from
`MANDAT_TRUSTED_PROXIES` in the application, not from uvicorn's proxy-header rewriting; and when the h11
parser is used, its cap on an incomplete request head follows the header limits (the httptools parser has
none: `idp.http.middleware.HeaderLimit` enforces them on what it parsed, for both).
"""

from __future__ import annotations

from typing import Any

from idp.settings import Settings

__all__ = ["REQUEST_LINE_ALLOWANCE", "server_options"]

# Room for the request line (method, target with its query, version) on top of the header fields.
REQUEST_LINE_ALLOWANCE = 8192


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config`."""
    return {
        "server_header": False,
        "proxy_headers": False,
        "h11_max_incomplete_event_size": settings.max_headers_total_bytes + REQUEST_LINE_ALLOWANCE,
        # SIGTERM: stop accepting, let requests in flight finish for at most this long, then shut down.
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }
