"""Server side of card sign-in: issue a challenge bound to the login transaction, verify the card's answer.

`verify_card_response` runs these steps, each raising its own typed error (see errors.py):

1. `take_challenge`          single use, unexpired, issued for this transaction  → invalid_challenge
2. `decode`                  certificate and signature are base64, alg is RS256 → invalid_card_response
3. `check_challenge_signature` the leaf key signed `signed_message(origin, challenge)` → bad_challenge_signature
4. chain validation (pki.py)                                                      → certificate_* / unknown_ca / …

The signed message names the IdP origin, so a signature made for one IdP cannot be replayed at another.
Path B (TLS client certificate through a proxy) uses `certificate_from_proxy_header` and the same validator.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from idp.cards import profile
from idp.cards.errors import BadChallengeSignature, InvalidCardResponse, InvalidCertificate, InvalidChallenge
from idp.cards.pki import ChainValidator, ValidatedCard, parse_leaf
from idp.store import EphemeralStore

__all__ = [
    "CHALLENGE_TTL",
    "CardResponse",
    "certificate_from_proxy_header",
    "issue_challenge",
    "signed_message",
    "verify_card_response",
]

CHALLENGE_TTL = 120
_KEY_PREFIX = "cards:challenge:"
_MESSAGE_CONTEXT = b"mandat-cps-auth-v1"


def _key(challenge: str) -> str:
    # The store sees only a hash, like every other single-use value we keep.
    return _KEY_PREFIX + hashlib.sha256(challenge.encode()).hexdigest()


def signed_message(origin: str, challenge: str) -> bytes:
    """What the card signs (SHA-256, then RSA PKCS#1 v1.5): context, IdP origin and challenge."""
    return b"\n".join([_MESSAGE_CONTEXT, origin.encode(), challenge.encode()])


async def issue_challenge(store: EphemeralStore, transaction_id: str, ttl: float = CHALLENGE_TTL) -> str:
    """A fresh random challenge (256 bits, base64url) bound to `transaction_id`, valid `ttl` seconds, once."""
    challenge = secrets.token_urlsafe(32)
    await store.put(_key(challenge), transaction_id.encode(), ttl)
    return challenge


@dataclass(frozen=True, slots=True)
class CardResponse:
    """What the agent returned for the browser to post: DER certificate, signature, algorithm."""

    certificate: bytes
    signature: bytes
    alg: str

    @classmethod
    def from_json(cls, body: Any) -> CardResponse:
        """Decode the agent's JSON (`certificate`, `signature`: standard base64; `alg`)."""
        if not isinstance(body, dict):
            raise InvalidCardResponse("body is not an object")
        values = {name: body.get(name) for name in ("certificate", "signature", "alg")}
        if not all(isinstance(v, str) and v for v in values.values()):
            raise InvalidCardResponse("certificate, signature and alg are required strings")
        try:
            certificate = base64.b64decode(str(values["certificate"]), validate=True)
            signature = base64.b64decode(str(values["signature"]), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidCardResponse("certificate or signature is not base64") from None
        return cls(certificate, signature, str(values["alg"]))


async def take_challenge(store: EphemeralStore, challenge: str, transaction_id: str) -> None:
    bound_to = await store.take(_key(challenge))
    if bound_to is None:
        raise InvalidChallenge("unknown, expired or already used challenge")
    if not secrets.compare_digest(bound_to, transaction_id.encode()):
        raise InvalidChallenge("challenge issued for another login transaction")


def check_challenge_signature(certificate: x509.Certificate, response: CardResponse, message: bytes) -> None:
    if response.alg != profile.SIGNATURE_ALG:
        raise InvalidCardResponse(f"unsupported alg {response.alg!r}")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadChallengeSignature("RS256 needs an RSA certificate key")
    try:
        key.verify(response.signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise BadChallengeSignature("signature does not verify with the certificate key") from None


async def verify_card_response(store: EphemeralStore, validator: ChainValidator, *, transaction_id: str,
                               challenge: str, response: CardResponse, origin: str,
                               now: dt.datetime | None = None) -> ValidatedCard:
    """Check a card answer end to end and return the validated card (with its national id).

    The caller then maps the national id to a directory record (`directory.find_professional`).
    """
    await take_challenge(store, challenge, transaction_id)
    leaf = parse_leaf(response.certificate)
    check_challenge_signature(leaf, response, signed_message(origin, challenge))
    await validator.crls.refresh_if_due()
    return validator.validate(response.certificate, now=now)


def certificate_from_proxy_header(value: str) -> bytes:
    """DER of the client certificate a TLS proxy forwarded (nginx `$ssl_client_escaped_cert`: URL-escaped PEM).

    Only call this for requests from a trusted proxy address, then validate the result like any card.
    """
    try:
        certificate = x509.load_pem_x509_certificate(unquote(value).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise InvalidCertificate("proxy header does not hold a PEM certificate") from None
    return certificate.public_bytes(serialization.Encoding.DER)
