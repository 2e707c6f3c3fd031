"""`Idempotency-Key` on admin API POSTs: a retry with the same key and the same request returns the first
response and does nothing again; the same key with another request is a validation problem.

Keys live in the ephemeral store (Redis in production), so a retry reaching another process is caught too, for
MANDAT_ADMIN_IDEMPOTENCY_SECONDS (24 h). A key is per admin client. While the first request runs, the key holds a
short-lived `pending` marker taken atomically (`add`): a concurrent retry gets a 409 and tries again later.
Only successful (2xx) responses are kept; after an error the key is released, since nothing was done.

A kept response can hold a client secret shown once, so it is stored encrypted (AES-GCM, a key derived from the
server secret, the store key as associated data), under a keyed hash of the caller's key: a copy of the store
alone reveals neither.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.responses import Response

from idp.admin.problems import Problem, field_problem
from idp.store import EphemeralStore

__all__ = ["HEADER", "Idempotency", "Slot"]

HEADER = "Idempotency-Key"
PENDING_SECONDS = 120
_PENDING, _DONE = b"P", b"D"
_KEPT_HEADERS = ("content-type", "location", "cache-control")


@dataclass(frozen=True, slots=True)
class Slot:
    store_key: str
    fingerprint: str


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """The request a key was used for: method, path, query and the body's JSON value (key order and spacing
    do not matter)."""
    canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), query.encode(), canonical])).hexdigest()


class Idempotency:
    def __init__(self, store: EphemeralStore, key: bytes, ttl: int) -> None:
        self._store = store
        self._key = key
        self._aead = AESGCM(hashlib.sha256(key + b"/aead").digest())
        self._ttl = ttl

    @staticmethod
    def check_key(raw: str) -> str:
        if not 1 <= len(raw) <= 255 or not all(" " < c <= "~" for c in raw):
            raise field_problem(HEADER, "must be 1-255 visible ASCII characters")
        return raw

    def _store_key(self, client_id: str, key: str) -> str:
        digest = hmac.new(self._key, f"{client_id}\x00{key}".encode(), hashlib.sha256).hexdigest()
        return f"admin:idem:{digest}"

    async def begin(self, client_id: str, key: str, request_fingerprint: str) -> Slot | Response:
        """Claim the key for this request (a `Slot` to finish or release), or the kept response of the first."""
        store_key = self._store_key(client_id, key)
        marker = _PENDING + request_fingerprint.encode()
        if await self._store.add(store_key, marker, PENDING_SECONDS):
            return Slot(store_key, request_fingerprint)
        kept = await self._store.get(store_key)
        if kept is None:  # expired between the two calls: claim it again
            if await self._store.add(store_key, marker, PENDING_SECONDS):
                return Slot(store_key, request_fingerprint)
            kept = await self._store.get(store_key) or marker
        if kept[:1] == _PENDING:
            if kept[1:].decode() != request_fingerprint:
                raise field_problem(HEADER, "was already used for another request")
            raise Problem("conflict", "a request with this Idempotency-Key is still running; retry shortly")
        record = self._open(store_key, kept[1:])
        if record["fingerprint"] != request_fingerprint:
            raise field_problem(HEADER, "was already used for another request")
        headers = {**record["headers"], "idempotent-replayed": "true"}
        return Response(base64.b64decode(record["body"]), status_code=record["status"], headers=headers)

    async def finish(self, slot: Slot, response: Response) -> None:
        if not 200 <= response.status_code < 300:
            await self.release(slot)
            return
        record = {"fingerprint": slot.fingerprint, "status": response.status_code,
                  "headers": {k: v for k, v in response.headers.items() if k in _KEPT_HEADERS},
                  "body": base64.b64encode(bytes(response.body)).decode()}
        await self._store.put(slot.store_key, _DONE + self._seal(slot.store_key, record), self._ttl)

    async def release(self, slot: Slot) -> None:
        await self._store.delete(slot.store_key)

    def _seal(self, store_key: str, record: dict[str, object]) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, json.dumps(record).encode(), store_key.encode())

    def _open(self, store_key: str, sealed: bytes) -> dict[str, Any]:
        try:
            plain = self._aead.decrypt(sealed[:12], sealed[12:], store_key.encode())
        except InvalidTag:  # the server secret changed: the key is unusable, not a crash
            raise Problem("conflict", "this Idempotency-Key cannot be replayed; use a new one") from None
        record: dict[str, Any] = json.loads(plain)
        return record
