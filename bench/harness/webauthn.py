"""A software WebAuthn authenticator for the drivers: what a browser and a security key would send, built with
`cryptography` and `cbor2` the way a client library (a native app, a test harness) builds it. No browser.

One ES256 key (P-256), one credential id, `none` attestation, user presence and user verification flags set
(a key that checked its PIN), signature counter 0 (an authenticator without a counter, which WebAuthn allows:
the relying party then cannot and does not compare counters).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["SoftAuthenticator"]

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40
AAGUID = bytes(16)  # none attestation: no model claimed


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    origin: str
    # PKCS#8 DER, so the authenticator can be handed to driver processes (key objects do not pickle).
    key_der: bytes = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    user_handle: bytes | None = None

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_der_private_key(self.key_der, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        # COSE_Key (RFC 9053): kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False},
                          separators=(",", ":")).encode()

    def register(self, options: dict[str, Any]) -> dict[str, Any]:
        """navigator.credentials.create(): the PublicKeyCredential JSON for these creation options."""
        rp_id_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        self.user_handle = unb64url(options["user"]["id"])
        attested = AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose_key()
        auth_data = rp_id_hash + bytes([FLAG_UP | FLAG_UV | FLAG_AT]) + struct.pack(">I", 0) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                "response": {"clientDataJSON": b64url(self._client_data("webauthn.create", options["challenge"])),
                             "attestationObject": b64url(attestation), "transports": ["usb"]},
                "clientExtensionResults": {}, "authenticatorAttachment": "cross-platform"}

    def assert_(self, options: dict[str, Any]) -> dict[str, Any]:
        """navigator.credentials.get(): the signed assertion JSON for these request options."""
        allowed = [c["id"] for c in options.get("allowCredentials") or []]
        if allowed and b64url(self.credential_id) not in allowed:
            raise ValueError("the server does not list this authenticator's credential")
        rp_id_hash = hashlib.sha256(options["rpId"].encode()).digest()
        auth_data = rp_id_hash + bytes([FLAG_UP | FLAG_UV]) + struct.pack(">I", 0)
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        response = {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature)}
        if self.user_handle is not None:
            response["userHandle"] = b64url(self.user_handle)
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                "response": response, "clientExtensionResults": {}, "authenticatorAttachment": "cross-platform"}
