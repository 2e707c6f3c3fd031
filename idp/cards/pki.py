"""Card certificate chain validation against the configured trust anchors (IGC-Santé in production).

`ChainValidator.validate` runs named steps, each raising its own typed error:

1. `parse_leaf`            the DER parses                                   → invalid_certificate
2. `check_validity_dates`  now is within notBefore..notAfter                → certificate_expired / _not_yet_valid
3. `check_key_usage`       keyUsage digitalSignature and EKU clientAuth     → not_client_auth
4. `check_issuers`         each issuer is known and its signature verifies  → unknown_ca / bad_signature
5. `verify_path`           RFC 5280 path validation by `cryptography.x509.verification` (basic constraints,
                           path length, CA key usage, dates of every CA)    → unknown_ca (or the matching error)
6. `check_revocation`      every non-anchor certificate against its CA's CRL → certificate_revoked / revocation_unknown
7. `national_id_of`        CN and UPN `<id>@carte-cps.fr` agree on a valid `8`+RPPS id → invalid_certificate

Steps 2–4 duplicate parts of step 5 on purpose: `cryptography` reports every failure as one
`VerificationError` string, and the login page must tell "expired" from "revoked" from "unknown CA".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from idp.cards.config import CardSettings
from idp.cards.crl import CrlStore
from idp.cards.errors import (
    BadSignature,
    CertificateExpired,
    CertificateNotYetValid,
    InvalidCertificate,
    NotClientAuth,
    UnknownCA,
)
from idp.cards.luhn import is_valid_national_id

__all__ = ["UPN_DOMAIN", "UPN_OID", "ChainValidator", "ValidatedCard", "load_certificates", "national_id_of"]

MAX_CHAIN_DEPTH = 4
UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # Microsoft UPN otherName, as on CPS cards
UPN_DOMAIN = "carte-cps.fr"


@dataclass(frozen=True, slots=True)
class ValidatedCard:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # leaf first, anchor last
    national_id: str


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle."""
    return x509.load_pem_x509_certificates(path.read_bytes())


class ChainValidator:
    def __init__(self, anchors: Sequence[x509.Certificate], intermediates: Sequence[x509.Certificate] = (),
                 crls: CrlStore | None = None) -> None:
        if not anchors:
            raise ValueError("at least one trust anchor is required")
        self._anchors = tuple(anchors)
        self._intermediates = tuple(intermediates)
        self._store = Store(list(self._anchors))
        self.crls = crls or CrlStore(require=True)

    @classmethod
    def from_settings(cls, settings: CardSettings) -> ChainValidator:
        if settings.trust_anchors is None:
            raise ValueError("MANDAT_CARDS_TRUST_ANCHORS is not set: card sign-in is disabled")
        intermediates = load_certificates(Path(settings.intermediates)) if settings.intermediates else []
        crls = CrlStore([Path(p) for p in settings.crl_paths], settings.crl_urls,
                        refresh_seconds=settings.crl_refresh_seconds, require=settings.require_crl)
        return cls(load_certificates(Path(settings.trust_anchors)), intermediates, crls)

    def validate(self, leaf_der: bytes, intermediates_der: Sequence[bytes] = (),
                 now: dt.datetime | None = None) -> ValidatedCard:
        at = now or dt.datetime.now(dt.UTC)
        leaf = parse_leaf(leaf_der)
        extra = [parse_leaf(der) for der in intermediates_der]
        check_validity_dates(leaf, at, "card certificate")
        check_key_usage(leaf)
        pool = [*extra, *self._intermediates]
        self.check_issuers(leaf, pool, at)
        chain = self.verify_path(leaf, pool, at)
        for certificate, issuer in pairwise(chain):
            self.crls.check(certificate, issuer, at)
        return ValidatedCard(leaf, chain, national_id_of(leaf))

    def check_issuers(self, leaf: x509.Certificate, pool: Sequence[x509.Certificate], at: dt.datetime) -> None:
        """Walk up by issuer name, checking each signature, until a trust anchor signs."""
        current = leaf
        for _ in range(MAX_CHAIN_DEPTH):
            anchors = [a for a in self._anchors if a.subject == current.issuer]
            if anchors:
                _issued_by_any(current, anchors)
                return
            candidates = [c for c in pool if c.subject == current.issuer and c != current]
            if not candidates:
                raise UnknownCA(f"no trusted issuer named {current.issuer.rfc4514_string()}")
            current = _issued_by_any(current, candidates)
            check_validity_dates(current, at, "issuing CA certificate")
        raise UnknownCA("chain longer than allowed")

    def verify_path(self, leaf: x509.Certificate, pool: Sequence[x509.Certificate],
                    at: dt.datetime) -> tuple[x509.Certificate, ...]:
        verifier = (PolicyBuilder().store(self._store).time(at).max_chain_depth(MAX_CHAIN_DEPTH)
                    .build_client_verifier())
        try:
            verified = verifier.verify(leaf, list(pool))
        except VerificationError as exc:
            raise UnknownCA(f"path validation failed: {exc}") from None
        return tuple(verified.chain)


def parse_leaf(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise InvalidCertificate(f"not a DER certificate: {exc}") from None


def check_validity_dates(certificate: x509.Certificate, at: dt.datetime, what: str) -> None:
    if at > certificate.not_valid_after_utc:
        raise CertificateExpired(f"{what} {certificate.subject.rfc4514_string()} expired "
                                 f"{certificate.not_valid_after_utc.isoformat()}")
    if at < certificate.not_valid_before_utc:
        raise CertificateNotYetValid(f"{what} {certificate.subject.rfc4514_string()} valid from "
                                     f"{certificate.not_valid_before_utc.isoformat()}")


def check_key_usage(certificate: x509.Certificate) -> None:
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise NotClientAuth("no keyUsage extension") from None
    if not key_usage.digital_signature:
        raise NotClientAuth("keyUsage lacks digitalSignature")
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise NotClientAuth("no extendedKeyUsage extension") from None
    if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise NotClientAuth("extendedKeyUsage lacks clientAuth")


def _issued_by_any(certificate: x509.Certificate, issuers: Sequence[x509.Certificate]) -> x509.Certificate:
    """The first of `issuers` whose key verifies `certificate`'s signature (names already match)."""
    for issuer in issuers:
        try:
            certificate.verify_directly_issued_by(issuer)
        except InvalidSignature:
            continue
        except (ValueError, TypeError) as exc:  # unsupported algorithm or key type
            raise BadSignature(f"cannot verify {certificate.subject.rfc4514_string()}: {exc}") from None
        return issuer
    raise BadSignature(f"signature of {certificate.subject.rfc4514_string()} does not verify with the key of "
                       f"{certificate.issuer.rfc4514_string()}")


def national_id_of(certificate: x509.Certificate) -> str:
    """The `8`+RPPS national id, required in both the CN and the UPN otherName, identical and Luhn-valid."""
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(common_names) != 1:
        raise InvalidCertificate("subject needs exactly one CN")
    cn = str(common_names[0].value)
    upns = _upns(certificate)
    expected = f"{cn}@{UPN_DOMAIN}"
    if expected not in upns:
        raise InvalidCertificate(f"UPN {upns!r} does not match CN {cn!r}")
    if not is_valid_national_id(cn):
        raise InvalidCertificate(f"CN {cn!r} is not an 8+RPPS national id with a valid check digit")
    return cn


def _upns(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    values = []
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id != UPN_OID:
            continue
        raw = other.value
        # A UTF8String with a short-form length: tag 0x0C, length, bytes. Anything else is not our profile.
        if len(raw) >= 2 and raw[0] == 0x0C and raw[1] == len(raw) - 2:
            values.append(raw[2:].decode("utf-8", errors="replace"))
    return values
