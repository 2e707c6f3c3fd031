"""Token checks shared by every flow: signature against the server's JWKS, then the claims the flow promises.

Each check returns a list of problems (empty means the token is good) so a run can count and show them.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

__all__ = ["at_hash", "check_access_token", "check_id_token", "decode_signed"]

CLOCK_SKEW = 5


def decode_signed(token: str, jwks: KeySet) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """Verify an ES256 JWS against `jwks`; return (header, claims), or the reason it failed."""
    try:
        decoded = jwt.decode(token, jwks, algorithms=["ES256"])
    except (JoseError, ValueError) as exc:
        return f"signature/format: {type(exc).__name__}: {exc}"
    return dict(decoded.header), dict(decoded.claims)


def at_hash(access_token: str) -> str:
    """OIDC Core 3.1.3.6: left half of SHA-256 (the hash of ES256) of the token, base64url without padding."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def _common(claims: dict[str, Any], issuer: str) -> list[str]:
    problems = []
    if claims.get("iss") != issuer:
        problems.append(f"iss {claims.get('iss')!r} != {issuer!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= time.time() - CLOCK_SKEW:
        problems.append(f"exp missing or past: {exp!r}")
    return problems


def check_access_token(token: str, jwks: KeySet, issuer: str, client_id: str) -> list[str]:
    """A JWT access token (RFC 9068) issued to `client_id` by `issuer`."""
    decoded = decode_signed(token, jwks)
    if isinstance(decoded, str):
        return [decoded]
    _header, claims = decoded
    problems = _common(claims, issuer)
    if claims.get("client_id") != client_id:
        problems.append(f"client_id {claims.get('client_id')!r} != {client_id!r}")
    return problems


def check_id_token(token: str, jwks: KeySet, issuer: str, client_id: str, nonce: str,
                   access_token: str | None) -> tuple[list[str], bool]:
    """An ID token from the token endpoint. Returns (problems, whether it carried at_hash).

    at_hash is optional in the code flow (OIDC Core 3.1.3.6); when present it must match.
    """
    decoded = decode_signed(token, jwks)
    if isinstance(decoded, str):
        return [decoded], False
    _header, claims = decoded
    problems = _common(claims, issuer)
    aud = claims.get("aud")
    if not (aud == client_id or (isinstance(aud, list) and client_id in aud)):
        problems.append(f"aud {aud!r} does not name {client_id!r}")
    if claims.get("nonce") != nonce:
        problems.append(f"nonce {claims.get('nonce')!r} != sent {nonce!r}")
    if not claims.get("sub"):
        problems.append("sub missing")
    has_at_hash = "at_hash" in claims
    if has_at_hash and access_token is not None and claims["at_hash"] != at_hash(access_token):
        problems.append("at_hash does not match the access token")
    return problems, has_at_hash
