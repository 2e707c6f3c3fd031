"""Opaque, tamper-evident page cursors: the last row's sort key, MAC'd with a server key and bound to the list it
came from. A cursor is a position (keyset pagination), not an offset, so pages stay stable while rows are added."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from idp.admin.problems import field_problem

__all__ = ["Cursors"]

_TAG_BYTES = 16


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Cursors:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, listing: str, position: list[Any]) -> str:
        payload = json.dumps([listing, position], separators=(",", ":")).encode()
        return _b64(payload) + "." + _b64(self._mac(payload))

    def decode(self, listing: str, cursor: str) -> list[Any]:
        """The position a cursor of `listing` stands for; anything else is a validation problem on `cursor`."""
        body, _, tag = cursor.partition(".")
        try:
            payload, mac = _unb64(body), _unb64(tag)
        except (binascii.Error, ValueError):
            raise field_problem("cursor", "is not a cursor this API returned") from None
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise field_problem("cursor", "is not a cursor this API returned")
        found, position = json.loads(payload)
        if found != listing or not isinstance(position, list):
            raise field_problem("cursor", f"belongs to another list than {listing}")
        return position
