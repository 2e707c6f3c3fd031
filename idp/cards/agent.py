"""The card agent: a small HTTP service on the professional's workstation, between the login page and the card.

`python -m idp card-agent` calls `run_agent`. The login page (origin = the IdP) calls it with `fetch`:

    GET  /status  → {"readers": [{"name", "card_present"}], "card_present": bool}
    POST /sign    {"challenge", "pin"} → {"certificate": base64 DER, "signature": base64, "alg": "RS256"}

Errors are JSON `{"error": code, "error_description": ...}` with the codes of errors.py: `no_reader`,
`no_card`, `card_removed`, `wrong_pin` (+ `tries_left`), `card_blocked`, `card_error`, `invalid_request`,
`forbidden_origin`, `forbidden_host`.

Why each guard exists:
- it listens on 127.0.0.1 only, and refuses requests whose peer is not loopback;
- it refuses any Host header but its own loopback name and port, so a DNS-rebinding page cannot reach it;
- it answers exactly one Origin, the IdP's, with CORS headers for that origin only; any other Origin (or none)
  gets 403, so another website cannot make the card sign;
- the PIN goes from the page to this process and on to the card in VERIFY; it is never sent to the IdP, never
  logged, never stored.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idp.cards.cps import CardSignature, CpsCard
from idp.cards.errors import CardError
from idp.cards.verify import signed_message
from idp.errors import ConfigurationError

__all__ = ["CardReader", "PcscReader", "create_agent_app", "run_agent"]

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_LOOPBACK_PEERS = {"127.0.0.1", "::1"}
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
_PIN = re.compile(r"^[0-9]{4,8}$")
MAX_BODY_BYTES = 4096


class CardReader(Protocol):
    """Where the agent finds the card: pcscd (PcscReader) or, in tests and demos, emulator.InProcessReader."""

    def statuses(self) -> list[tuple[str, bool]]:
        """(reader name, card present) for every reader."""

    def connect(self) -> AbstractContextManager[Callable[[bytes], bytes]]:
        """A transmit function for the card, valid inside the context."""


class PcscReader:
    """Readers reached through pcscd. `name_contains` narrows the choice; else the first holding a card."""

    def __init__(self, name_contains: str | None = None) -> None:
        self._name_contains = name_contains

    def statuses(self) -> list[tuple[str, bool]]:
        from idp.cards.pcsc import PcscContext  # pyscard is optional; only the agent process needs it

        with PcscContext() as context:
            return [(s.name, s.card_present) for s in context.statuses()]

    @contextmanager
    def connect(self) -> Iterator[Callable[[bytes], bytes]]:
        from idp.cards.pcsc import PcscContext

        with PcscContext() as context:
            card = context.connect(context.choose_reader(self._name_contains))
            try:
                yield card.transmit
            finally:
                card.close()


def _error(code: str, description: str, status: int) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status,
                        headers={"Cache-Control": "no-store"})


def _card_error(exc: CardError) -> JSONResponse:
    log.info("card-agent: %s (%s)", exc.code, exc.detail)
    return JSONResponse(exc.as_json(), status_code=exc.status, headers={"Cache-Control": "no-store"})


class LoopbackOriginGuard:
    """ASGI middleware: loopback peer, own Host, exact Origin; CORS and Private Network Access headers."""

    def __init__(self, app: ASGIApp, *, origin: str, port: int | None) -> None:
        self.app = app
        self.origin = origin
        hosts = LOOPBACK_HOSTS if port is None else tuple(f"{h}:{port}" for h in LOOPBACK_HOSTS)
        self.allowed_hosts = frozenset(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if request.method == "OPTIONS":
            await self._preflight(request)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"access-control-allow-origin", self.origin.encode()), (b"vary", b"Origin")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _refusal(self, request: Request) -> Response | None:
        peer = request.client.host if request.client else None
        if peer not in _LOOPBACK_PEERS:
            return _error("forbidden_host", "The card agent only serves this computer.", 403)
        if request.headers.get("host", "") not in self.allowed_hosts:
            return _error("forbidden_host", "Unexpected Host header.", 403)
        if request.headers.get("origin") != self.origin:
            return _error("forbidden_origin", "This site may not use the card agent.", 403)
        return None

    def _preflight(self, request: Request) -> Response:
        method = request.headers.get("access-control-request-method")
        if method not in {"GET", "POST"}:
            return _error("invalid_request", "Unsupported preflight.", 400)
        headers = {
            "Access-Control-Allow-Origin": self.origin,
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }
        if request.headers.get("access-control-request-private-network") == "true":
            # Chrome's Private Network Access: a public page calling loopback needs this explicit consent.
            headers["Access-Control-Allow-Private-Network"] = "true"
        return Response(status_code=204, headers=headers)


def create_agent_app(idp_origin: str, *, reader: CardReader | None = None, port: int | None = None) -> ASGIApp:
    """The agent as an ASGI app. `port` pins the accepted Host header (None: any port on a loopback name)."""
    card_reader: CardReader = reader or PcscReader()
    card_lock = threading.Lock()  # one exchange with the card at a time: APDU sequences must not interleave

    def sign(challenge: str, pin: str) -> CardSignature:
        with card_lock, card_reader.connect() as transmit:
            return CpsCard(transmit).authenticate(pin, signed_message(idp_origin, challenge))

    def statuses() -> list[tuple[str, bool]]:
        with card_lock:
            return card_reader.statuses()

    async def status_endpoint(request: Request) -> Response:
        try:
            readers = await run_in_threadpool(statuses)
        except CardError as exc:
            return _card_error(exc)
        return JSONResponse({"readers": [{"name": n, "card_present": p} for n, p in readers],
                             "card_present": any(p for _, p in readers)},
                            headers={"Cache-Control": "no-store"})

    async def sign_endpoint(request: Request) -> Response:
        body = await _json_body(request)
        if body is None:
            return _error("invalid_request", "Expected a JSON object with challenge and pin.", 400)
        challenge, pin = body.get("challenge"), body.get("pin")
        if not isinstance(challenge, str) or not _CHALLENGE.match(challenge):
            return _error("invalid_request", "challenge is missing or malformed.", 400)
        if not isinstance(pin, str) or not _PIN.match(pin):
            return _error("invalid_request", "The PIN is 4 to 8 digits.", 400)
        try:
            result = await run_in_threadpool(sign, challenge, pin)
        except CardError as exc:
            return _card_error(exc)
        return JSONResponse({"certificate": base64.b64encode(result.certificate).decode(),
                             "signature": base64.b64encode(result.signature).decode(),
                             "alg": result.alg}, headers={"Cache-Control": "no-store"})

    app = Starlette(routes=[Route("/status", status_endpoint, methods=["GET"]),
                            Route("/sign", sign_endpoint, methods=["POST"])])
    return LoopbackOriginGuard(app, origin=idp_origin, port=port)


async def _json_body(request: Request) -> dict[str, Any] | None:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return None
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def run_agent(idp_origin: str, port: int, *, host: str = "127.0.0.1", reader: str | None = None) -> None:
    """Serve the agent with uvicorn until interrupted. Only loopback addresses are accepted for `host`."""
    if host not in {"127.0.0.1", "::1"}:
        raise ConfigurationError(f"the card agent listens on loopback only, not {host!r}")
    log.info("card-agent: serving %s on http://%s:%d", idp_origin, host, port)
    uvicorn.run(create_agent_app(idp_origin, reader=PcscReader(reader), port=port), host=host, port=port,
                log_level="info", access_log=False, server_header=False)
