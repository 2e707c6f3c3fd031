"""ASGI middleware: security headers on every response, `__Host-` cookie names over https, request-header limits
and a request-body size limit.

Plain ASGI (not BaseHTTPMiddleware) so the token endpoint pays a few microseconds, not a task hop.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idp.http import cookies

# No inline script or style anywhere; frames refused (clickjacking); forms post to ourselves only
# (form_post responses widen form-action to the one client origin they target).
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' http://127.0.0.1:* http://localhost:*; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)

_DEFAULT_CSP_BYTES = DEFAULT_CSP.encode()

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS:
                    if name not in names:
                        headers.append((name, value))
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", _DEFAULT_CSP_BYTES))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413 before the application reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await _too_large(send, scope, self.max_bytes)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await _too_large(send, scope, self.max_bytes)


class BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, scope: Scope, max_bytes: int) -> None:
    """413 in the caller's language: an RFC 9457 problem on the admin API, an OAuth error elsewhere."""
    path = scope.get("path", "")
    if path.startswith("/admin/api/"):
        body = json.dumps({"type": "urn:mandat:problem:too-large", "title": "The request body is too large",
                           "status": 413, "detail": f"request bodies are limited to {max_bytes} bytes",
                           "instance": path}).encode()
        kind = b"application/problem+json"
    else:
        body = b'{"error":"invalid_request","error_description":"request body too large"}'
        kind = b"application/json"
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


class HeaderLimit:
    """Refuse requests with too many header fields, or too large ones, with 431 (RFC 6585 §5).

    uvicorn's httptools parser has no limit of its own on the header block (h11 has only a total one), so the
    application checks what the server parsed before anything reads it: the count, each field (name + value)
    and the whole block. A reverse proxy in front should enforce the same or lower limits on the raw bytes.
    """

    def __init__(self, app: ASGIApp, *, max_count: int, max_field_bytes: int, max_total_bytes: int) -> None:
        self.app = app
        self.max_count = max_count
        self.max_field_bytes = max_field_bytes
        self.max_total_bytes = max_total_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.too_large(scope.get("headers", [])):
            await _headers_too_large(send)
            return
        await self.app(scope, receive, send)

    def too_large(self, headers: list[tuple[bytes, bytes]]) -> bool:
        if len(headers) > self.max_count:
            return True
        total = 0
        for name, value in headers:
            size = len(name) + len(value)
            if size > self.max_field_bytes:
                return True
            total += size
        return total > self.max_total_bytes


HEADERS_TOO_LARGE_BODY = b"Request Header Fields Too Large\n"


async def _headers_too_large(send: Send) -> None:
    await send({"type": "http.response.start", "status": 431,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(HEADERS_TOO_LARGE_BODY)).encode()),
                            (b"cache-control", b"no-store"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": HEADERS_TOO_LARGE_BODY})


class HostCookies:
    """Over https, the browser holds our cookies as `__Host-<name>` (see idp/http/cookies.py).

    Requests: `__Host-<name>` is handed to the application as `<name>`, and an unprefixed `<name>` sent by
    the browser is dropped (only a sibling domain or a plain-http page could have set it). Responses: a
    Set-Cookie for `<name>` becomes `__Host-<name>`, with Secure added if missing (deletions too, or browsers
    would refuse them) and never a Domain.
    """

    def __init__(self, app: ASGIApp, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled
        self._prefix = cookies.HOST_PREFIX.encode()
        self._names = {name.encode() for name in cookies.PREFIXED}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        scope["headers"] = [(name, self._incoming(value) if name == b"cookie" else value)
                            for name, value in scope.get("headers", [])]

        async def send_renamed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [(name, self._outgoing(value) if name.lower() == b"set-cookie" else value)
                                      for name, value in message.get("headers", [])]
            await send(message)

        await self.app(scope, receive, send_renamed)

    def _incoming(self, header: bytes) -> bytes:
        kept = []
        for pair in header.split(b";"):
            name = pair.split(b"=", 1)[0].strip()
            if name in self._names:
                continue  # unprefixed: not ours
            if name.startswith(self._prefix) and name[len(self._prefix):] in self._names:
                pair = pair.strip()[len(self._prefix):]
            kept.append(pair.strip())
        return b"; ".join(p for p in kept if p)

    def _outgoing(self, header: bytes) -> bytes:
        name = header.split(b"=", 1)[0].strip()
        if name not in self._names:
            return header
        attributes = [a.strip() for a in header.split(b";")]
        attributes = [a for a in attributes[1:] if not a.lower().startswith((b"domain=", b"path="))
                      and a.lower() != b"secure"]
        first = self._prefix + header.split(b";", 1)[0].strip()
        return b"; ".join([first, *attributes, b"Path=/", b"Secure"])
