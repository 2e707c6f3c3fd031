"""Card settings (`MANDAT_CARDS_*`), each documented where it is defined.

Built with `settings.domain(CardSettings.from_env)`. Trust anchors, intermediates and CRLs always come from
files named here: production anchors (IGC-Santé) are never compiled into the code, and the test PKI made by
`make-test-pki` is just another set of files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

from idp.errors import ConfigurationError
from idp.settings import env_field, read_env_fields

__all__ = ["CardSettings", "parse_origin"]



_setting = env_field


def parse_origin(name: str, raw: str, *, allow_path: bool = False) -> str:
    """The origin as a browser sends it (`scheme://host[:port]`, lower case, default port dropped).

    Raises ConfigurationError naming `name` for anything but an http(s) origin (or URL, with `allow_path`).
    """
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment \
            or (parts.path not in {"", "/"} and not allow_path) or parts.username or parts.password:
        raise ConfigurationError(f"{name} must be an origin such as https://idp.example, got {raw!r}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = "" if parts.port in (None, default_port) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True, slots=True)
class CardSettings:
    trust_anchors: str | None = _setting(
        "MANDAT_CARDS_TRUST_ANCHORS", None,
        doc="PEM bundle of the root certificates card chains must lead to (production: the IGC-Santé roots). "
        "Unset: card sign-in is disabled and has no route.",
    )
    intermediates: str | None = _setting(
        "MANDAT_CARDS_INTERMEDIATES", None,
        doc="PEM bundle of intermediate CAs (e.g. \"AC IGC-SANTE ELEMENTAIRE PERSONNES\"). Cards only hold "
        "their own certificate, so the server supplies the rest of the path.",
    )
    crl_paths: tuple[str, ...] = _setting(
        "MANDAT_CARDS_CRL_PATHS", "",
        doc="Comma-separated CRL files (DER or PEM), one per issuing CA. Reloaded when changed on disk.",
    )
    crl_urls: tuple[str, ...] = _setting(
        "MANDAT_CARDS_CRL_URLS", "",
        doc="Comma-separated http(s) URLs of CRLs to download (the CAs' distribution points), in addition to "
        "the files.",
    )
    crl_refresh_seconds: int = _setting(
        "MANDAT_CARDS_CRL_REFRESH_SECONDS", "300",
        doc="How often CRL files are re-read and CRL URLs re-downloaded.",
    )
    require_crl: bool = _setting(
        "MANDAT_CARDS_REQUIRE_CRL", "true",
        doc="Refuse a card (revocation_unknown) when no valid, current CRL covers its issuer. Turn off only "
        "in development: off means a revoked card may be accepted.",
    )
    challenge_ttl: int = _setting(
        "MANDAT_CARDS_CHALLENGE_TTL", "120",
        doc="Seconds a card challenge stays valid. It is also single use.",
    )
    client_cert_header: str = _setting(
        "MANDAT_CARDS_CLIENT_CERT_HEADER", "X-SSL-Client-Cert",
        doc="Header in which the TLS-terminating proxy forwards the URL-escaped PEM client certificate "
        "(nginx `$ssl_client_escaped_cert`). Believed only from MANDAT_TRUSTED_PROXIES; always re-validated.",
    )
    tls_login: bool = _setting(
        "MANDAT_CARDS_TLS_LOGIN", "false",
        doc="Offer path B: sign in with the card certificate the browser presented to the TLS proxy (nginx "
        "`ssl_verify_client optional_no_ca`), forwarded in MANDAT_CARDS_CLIENT_CERT_HEADER. Needs "
        "MANDAT_TRUSTED_PROXIES. Off: the route does not exist.",
    )
    agent_idp_origin: str | None = _setting(
        "MANDAT_CARDS_AGENT_IDP_ORIGIN", None,
        doc="The only web origin the local card agent answers (CORS). Unset: the origin of MANDAT_ISSUER.",
    )
    agent_port: int = _setting(
        "MANDAT_CARDS_AGENT_PORT", "24365",
        doc="Loopback port of the card agent; the login page calls http://127.0.0.1:<port>.",
    )
    agent_reader: str | None = _setting(
        "MANDAT_CARDS_AGENT_READER", None,
        doc="Substring of the reader name the agent uses. Unset: the first reader holding a card.",
    )
    directory_batch_size: int = _setting(
        "MANDAT_CARDS_DIRECTORY_BATCH_SIZE", "1000",
        doc="Rows per transaction when importing the professional directory.",
    )
    issuer: str = _setting(
        "MANDAT_ISSUER", "http://localhost:8000",
        doc="Read from the core settings: the agent defaults to its origin, and card signatures are bound to it.",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CardSettings:
        settings = cls(**read_env_fields(cls, env, int_minimum=1))
        settings.validate()
        return settings

    def validate(self) -> None:
        for name in ("trust_anchors", "intermediates"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigurationError(f"{self.env_name(name)}: no such file {path!r}")
        for path in self.crl_paths:
            if not Path(path).is_file():
                raise ConfigurationError(f"MANDAT_CARDS_CRL_PATHS: no such file {path!r}")
        for url in self.crl_urls:
            if urlsplit(url).scheme not in {"http", "https"}:
                raise ConfigurationError(f"MANDAT_CARDS_CRL_URLS: not an http(s) URL: {url!r}")
        if self.agent_idp_origin is not None:
            parse_origin("MANDAT_CARDS_AGENT_IDP_ORIGIN", self.agent_idp_origin)
        if self.agent_port > 65535:
            raise ConfigurationError("MANDAT_CARDS_AGENT_PORT must be a TCP port")
        if not 10 <= self.challenge_ttl <= 600:
            raise ConfigurationError("MANDAT_CARDS_CHALLENGE_TTL must be between 10 and 600 seconds")

    @classmethod
    def env_name(cls, attribute: str) -> str:
        return str(next(f.metadata["env"] for f in fields(cls) if f.name == attribute))

    @property
    def enabled(self) -> bool:
        """Card sign-in needs trust anchors; without them the feature is off and has no route."""
        return self.trust_anchors is not None

    @property
    def idp_origin(self) -> str:
        """The origin the agent answers and card signatures are bound to."""
        if self.agent_idp_origin is not None:
            return parse_origin("MANDAT_CARDS_AGENT_IDP_ORIGIN", self.agent_idp_origin)
        return parse_origin("MANDAT_ISSUER", self.issuer, allow_path=True)

    def dev_warnings(self) -> list[str]:
        warnings = []
        if self.enabled and not self.require_crl:
            warnings.append("MANDAT_CARDS_REQUIRE_CRL is off: revoked cards may be accepted")
        if self.enabled and not (self.crl_paths or self.crl_urls):
            warnings.append("no MANDAT_CARDS_CRL_PATHS / MANDAT_CARDS_CRL_URLS: revocation cannot be checked")
        return warnings
