"""Passkey (WebAuthn) settings: one frozen object read from `MANDAT_PASSKEYS_*`, each documented in place.

`PasskeySettings.from_env(env)` validates everything and raises `ConfigurationError` naming the variable, so a
bad allow-list or an unreadable root bundle stops start-up instead of failing the first registration.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from idp.errors import ConfigurationError

__all__ = ["ALGORITHM_NAMES", "ATTESTATION_FORMATS", "PasskeySettings"]

# COSE algorithm identifiers (RFC 9053) by the names operators write in MANDAT_PASSKEYS_ALGORITHMS.
ALGORITHM_NAMES: Mapping[str, int] = MappingProxyType({"ES256": -7, "EdDSA": -8, "RS256": -257})

# Attestation statement formats (IANA WebAuthn registry) that may carry a certificate chain.
ATTESTATION_FORMATS = frozenset({"packed", "tpm", "android-key", "android-safetynet", "fido-u2f", "apple"})

_DEFAULT_ISSUER = "http://localhost:8000"


@dataclass(frozen=True, slots=True)
class PasskeySettings:
    rp_id: str
    """WebAuthn Relying Party id (`MANDAT_PASSKEYS_RP_ID`): a registrable domain. Defaults to the issuer's host.
    Credentials are bound to it for life: changing it orphans every registered key."""

    rp_name: str = "Mandat"
    """Name the browser shows while creating a key (`MANDAT_PASSKEYS_RP_NAME`)."""

    origins: tuple[str, ...] = ()
    """Origins allowed in clientDataJSON (`MANDAT_PASSKEYS_ORIGINS`, comma list). Defaults to the issuer's
    origin. Each must be https, or http on localhost."""

    algorithms: tuple[int, ...] = (-7, -8, -257)
    """COSE algorithms offered at registration AND accepted at verification (`MANDAT_PASSKEYS_ALGORITHMS`,
    comma list of ES256, EdDSA, RS256, in order of preference). One list so the two can never disagree."""

    aaguid_allow_list: frozenset[str] = frozenset()
    """Authenticator models (AAGUIDs, comma list, `MANDAT_PASSKEYS_AAGUID_ALLOW_LIST`) that earn `eidas3`
    when registered with user verification and an attestation chaining to a configured root."""

    attestation_roots: Mapping[str, tuple[bytes, ...]] = field(default_factory=dict, hash=False)
    """Trusted attestation roots per format (`MANDAT_PASSKEYS_ATTESTATION_ROOTS`: `fmt=path.pem,...`, each
    file a PEM bundle). An attestation in a listed format must chain to one of them or is refused."""

    challenge_ttl: int = 300
    """Seconds a registration or sign-in challenge stays usable (`MANDAT_PASSKEYS_CHALLENGE_TTL`)."""

    timeout_ms: int = 300_000
    """Browser timeout hint in milliseconds (`MANDAT_PASSKEYS_TIMEOUT_MS`); at most the challenge TTL, since a
    browser waiting longer than the challenge lives could only produce a refused answer."""

    enabled: bool = True
    """Whether passkeys are offered at all. WebAuthn needs an RP id that is a domain name, so when the issuer is
    an IP address (e.g. `http://127.0.0.1:8000`) and no `MANDAT_PASSKEYS_RP_ID` is given, passkeys are switched
    off (no routes, no login method) instead of failing start-up."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PasskeySettings:
        issuer = urlsplit(env.get("MANDAT_ISSUER", _DEFAULT_ISSUER))
        if not issuer.hostname:
            raise ConfigurationError("MANDAT_ISSUER must be an absolute URL (passkeys derive their RP id from it)")
        issuer_origin = f"{issuer.scheme}://{issuer.netloc}"
        if "MANDAT_PASSKEYS_RP_ID" not in env and _is_ip(issuer.hostname):
            return cls(rp_id="", enabled=False)
        settings = cls(
            rp_id=env.get("MANDAT_PASSKEYS_RP_ID", issuer.hostname),
            rp_name=env.get("MANDAT_PASSKEYS_RP_NAME", "Mandat"),
            origins=_csv(env.get("MANDAT_PASSKEYS_ORIGINS", issuer_origin)),
            algorithms=_algorithms(env.get("MANDAT_PASSKEYS_ALGORITHMS", "ES256,EdDSA,RS256")),
            aaguid_allow_list=_aaguids(env.get("MANDAT_PASSKEYS_AAGUID_ALLOW_LIST", "")),
            attestation_roots=_roots(env.get("MANDAT_PASSKEYS_ATTESTATION_ROOTS", "")),
            challenge_ttl=_positive("MANDAT_PASSKEYS_CHALLENGE_TTL", env.get("MANDAT_PASSKEYS_CHALLENGE_TTL", "300")),
            timeout_ms=_positive("MANDAT_PASSKEYS_TIMEOUT_MS", env.get("MANDAT_PASSKEYS_TIMEOUT_MS", "300000")),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not self.rp_id or "://" in self.rp_id or ":" in self.rp_id:
            raise ConfigurationError("MANDAT_PASSKEYS_RP_ID must be a bare host name, without scheme or port")
        if not self.rp_name.strip():
            raise ConfigurationError("MANDAT_PASSKEYS_RP_NAME must not be empty")
        if not self.origins:
            raise ConfigurationError("MANDAT_PASSKEYS_ORIGINS must list at least one origin")
        for origin in self.origins:
            parts = urlsplit(origin)
            host = parts.hostname or ""
            if parts.scheme not in {"https", "http"} or not host or parts.path or parts.query:
                raise ConfigurationError(f"MANDAT_PASSKEYS_ORIGINS: {origin!r} is not an origin (scheme://host[:port])")
            if parts.scheme == "http" and host != "localhost":
                raise ConfigurationError(f"MANDAT_PASSKEYS_ORIGINS: {origin!r} must use https outside localhost")
            # WebAuthn only lets an origin use an RP id that is its host or a registrable suffix of it.
            if host != self.rp_id and not host.endswith("." + self.rp_id):
                raise ConfigurationError(
                    f"MANDAT_PASSKEYS_ORIGINS: {origin!r} is not within MANDAT_PASSKEYS_RP_ID {self.rp_id!r}"
                )
        if not self.algorithms:
            raise ConfigurationError("MANDAT_PASSKEYS_ALGORITHMS must list at least one algorithm")
        if self.timeout_ms > self.challenge_ttl * 1000:
            raise ConfigurationError("MANDAT_PASSKEYS_TIMEOUT_MS must not exceed MANDAT_PASSKEYS_CHALLENGE_TTL")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _positive(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def _algorithms(raw: str) -> tuple[int, ...]:
    algorithms: list[int] = []
    for name in _csv(raw):
        if name not in ALGORITHM_NAMES:
            raise ConfigurationError(
                f"MANDAT_PASSKEYS_ALGORITHMS: unknown algorithm {name!r}; use {', '.join(ALGORITHM_NAMES)}"
            )
        algorithms.append(ALGORITHM_NAMES[name])
    return tuple(dict.fromkeys(algorithms))


def _aaguids(raw: str) -> frozenset[str]:
    allowed: set[str] = set()
    for item in _csv(raw):
        try:
            allowed.add(str(uuid.UUID(item)))
        except ValueError:
            raise ConfigurationError(f"MANDAT_PASSKEYS_AAGUID_ALLOW_LIST: {item!r} is not a UUID") from None
    return frozenset(allowed)


def _roots(raw: str) -> Mapping[str, tuple[bytes, ...]]:
    name = "MANDAT_PASSKEYS_ATTESTATION_ROOTS"
    roots: dict[str, tuple[bytes, ...]] = {}
    for item in _csv(raw):
        fmt, sep, path = item.partition("=")
        fmt, path = fmt.strip(), path.strip()
        if not sep or fmt not in ATTESTATION_FORMATS:
            raise ConfigurationError(f"{name}: {item!r} must be fmt=path with fmt in {sorted(ATTESTATION_FORMATS)}")
        try:
            bundle = Path(path).read_bytes()
            certificates = x509.load_pem_x509_certificates(bundle)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"{name}: cannot read PEM certificates from {path!r}: {exc}") from None
        # py_webauthn takes one PEM blob per root, so split the bundle here once.
        pems = tuple(cert.public_bytes(encoding=Encoding.PEM) for cert in certificates)
        roots[fmt] = roots.get(fmt, ()) + pems
    return MappingProxyType(roots)

