"""Our signing fast path produces tokens that joserfc's own decoder accepts, for every algorithm we sign with."""

from __future__ import annotations

import pytest
from joserfc import jwt

from idp.oidc.jose import JoseFailure, generate_signing_key, import_key_set, sign_jwt, verify_jwt


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256", "Ed25519"])
def test_signed_tokens_decode_with_joserfc(alg: str) -> None:
    key = generate_signing_key(alg)
    claims = {"sub": "x", "name": "Éloïse Lefèvre", "n": 1, "list": [1, "a"]}
    token = sign_jwt(claims, key, typ="at+jwt")
    decoded = jwt.decode(token, key.key, algorithms=[alg])
    assert decoded.claims == claims
    assert decoded.header == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
    header, verified = verify_jwt(token, import_key_set({"keys": [key.public_jwk()]}), typ="at+jwt")
    assert verified == claims and header["kid"] == key.kid


def test_es256_signatures_keep_their_leading_zero_bytes() -> None:
    """R and S are fixed 32-byte big-endian integers (RFC 7518 §3.4): one in 128 signatures has a value with a
    leading zero byte, which must still be encoded on 32 bytes."""
    key = generate_signing_key("ES256")
    for n in range(600):
        token = sign_jwt({"n": n}, key)
        assert len(token.rsplit(".", 1)[1]) == 86  # 64 bytes, base64url without padding
        assert jwt.decode(token, key.key, algorithms=["ES256"]).claims == {"n": n}


def test_tampered_payload_is_rejected() -> None:
    key = generate_signing_key()
    head, _payload, signature = sign_jwt({"sub": "a"}, key).split(".")
    forged = sign_jwt({"sub": "b"}, generate_signing_key()).split(".")[1]
    with pytest.raises(JoseFailure):
        verify_jwt(f"{head}.{forged}.{signature}", key)


def test_alg_none_and_hmac_are_refused() -> None:
    key = generate_signing_key()
    token = sign_jwt({"sub": "a"}, key)
    _head, payload, _sig = token.split(".")
    none_header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    with pytest.raises(JoseFailure):
        verify_jwt(f"{none_header}.{payload}.", key)


def test_symmetric_keys_refused_in_client_jwks() -> None:
    with pytest.raises(JoseFailure, match="symmetric"):
        import_key_set({"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}]})
