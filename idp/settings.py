"""Settings: one frozen object read from `MANDAT_*` environment variables, each documented where it is defined.

`Settings.from_env()` validates everything at start-up and raises `ConfigurationError` naming the variable.
Dev-only defaults (in-process store, generated dev keys, demo data) are reported by `dev_warnings()` and
logged loudly by `create_app`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from idp.errors import ConfigurationError

T = TypeVar("T")

__all__ = ["Settings", "env_field", "read_env_fields"]


def env_field(name: str, default: Any = None, *, doc: str) -> Any:
    """Declare a setting: the field's metadata keeps its variable name and documentation. Domain settings
    (`idp/<domain>/config.py`) declare theirs the same way and read them with `read_env_fields`."""
    return field(default=default, metadata={"env": name, "doc": doc})


_env = env_field


def read_env_fields(cls: type, env: Mapping[str, str], *, int_minimum: int = 0) -> dict[str, Any]:
    """Parse every `env_field` of a dataclass from `env` by its annotated type (int, bool, str, `str | None`,
    comma-separated `tuple[str, ...]`); errors name the variable. An empty `str | None` reads as None."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        name = f.metadata.get("env")
        if name is None:
            continue
        raw = env.get(name, f.default)
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        if raw is None:
            values[f.name] = None
        elif kind.startswith("int"):
            values[f.name] = _int(name, str(raw), int_minimum)
        elif kind.startswith("bool"):
            values[f.name] = raw if isinstance(raw, bool) else _bool(name, str(raw))
        elif kind.startswith("tuple"):
            values[f.name] = tuple(item.strip() for item in str(raw).split(",") if item.strip())
        elif kind.endswith("None"):
            values[f.name] = str(raw) or None
        else:
            values[f.name] = str(raw)
    return values


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


@functools.cache
def _split_proxies(raw: str) -> frozenset[str]:
    # Read on every request (client_ip): parse once per distinct value.
    return frozenset(p.strip() for p in raw.split(",") if p.strip())


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    # --- identity of the provider ---------------------------------------------------------------------
    issuer: str = _env(
        "MANDAT_ISSUER", "http://localhost:8000",
        doc="Issuer URL published in discovery and in every token (`iss`). https is required except on "
        "localhost/127.0.0.1. No trailing slash, no query or fragment.",
    )
    # --- storage ----------------------------------------------------------------------------------------
    database_url: str = _env(
        "MANDAT_DATABASE_URL", "sqlite+aiosqlite:///./var/mandat.db",
        doc="SQLAlchemy async URL for durable state. `sqlite+aiosqlite:///path` (embedded default) or "
        "`postgresql+asyncpg://user:pass@host/db` (production).",
    )
    redis_url: str | None = _env(
        "MANDAT_REDIS_URL", None,
        doc="Redis URL for ephemeral state (codes, sessions, challenges, counters). Unset: the in-process "
        "store, which is only correct with one server process.",
    )
    keys_dir: str = _env(
        "MANDAT_KEYS_DIR", "./keys",
        doc="Folder holding the signing keys (JWK files, mode 0600) and the server secret. Generated on "
        "first start when empty.",
    )
    db_pool_size: int = _env(
        "MANDAT_DB_POOL_SIZE", "10",
        doc="PostgreSQL connections each server process keeps open. Size PostgreSQL's max_connections for "
        "processes × (pool size + overflow) + the migration job and the operators.",
    )
    db_max_overflow: int = _env(
        "MANDAT_DB_MAX_OVERFLOW", "10",
        doc="Extra PostgreSQL connections a process may open above MANDAT_DB_POOL_SIZE under a burst; closed "
        "when returned.",
    )
    db_connect_timeout: int = _env(
        "MANDAT_DB_CONNECT_TIMEOUT", "5",
        doc="Seconds to wait for a new PostgreSQL connection before the request fails with 503 (a server that "
        "is down or unreachable must not hold requests for asyncpg's default of 60 s).",
    )
    store_timeout: int = _env(
        "MANDAT_STORE_TIMEOUT", "2",
        doc="Seconds to wait for Redis (connecting, and each command) before the request fails with 503 "
        "`temporarily_unavailable`.",
    )
    # --- token lifetimes (seconds) --------------------------------------------------------------------
    code_ttl: int = _env("MANDAT_CODE_TTL", "60", doc="Authorization code lifetime; at most 60 s.")
    access_token_ttl: int = _env("MANDAT_ACCESS_TOKEN_TTL", "600", doc="Access token lifetime.")
    id_token_ttl: int = _env("MANDAT_ID_TOKEN_TTL", "600", doc="ID token lifetime.")
    refresh_token_ttl: int = _env(
        "MANDAT_REFRESH_TOKEN_TTL", "86400",
        doc="Idle lifetime of one refresh token; each rotation issues a new one with this lifetime, capped "
        "by the grant's absolute lifetime.",
    )
    grant_absolute_ttl: int = _env(
        "MANDAT_GRANT_ABSOLUTE_TTL", "2592000",
        doc="Absolute lifetime of a grant (and so of its refresh tokens) without `offline_access`: 30 days.",
    )
    offline_grant_absolute_ttl: int = _env(
        "MANDAT_OFFLINE_GRANT_ABSOLUTE_TTL", "15552000",
        doc="Absolute lifetime of a grant with `offline_access` (survives logout): 180 days.",
    )
    # --- keys ---------------------------------------------------------------------------------------------
    key_activation_delay: int = _env(
        "MANDAT_KEY_ACTIVATION_DELAY", "86400",
        doc="Seconds between `keys rotate` publishing a new key and using it to sign, so relying parties "
        "that cache /jwks pick it up first.",
    )
    keys_reload_seconds: int = _env(
        "MANDAT_KEYS_RELOAD_SECONDS", "5",
        doc="How often each process re-reads MANDAT_KEYS_DIR. A key added by `keys rotate` (on any host sharing "
        "the folder, e.g. a mounted Secret) is published and used by every process within this many seconds, "
        "with no restart.",
    )
    jwks_cache_seconds: int = _env(
        "MANDAT_JWKS_CACHE_SECONDS", "300", doc="Cache-Control max-age on /jwks and discovery.",
    )
    # --- sessions and login -------------------------------------------------------------------------------
    session_idle_ttl: int = _env(
        "MANDAT_SESSION_IDLE_TTL", "1800", doc="SSO session idle timeout below eidas3 (eidas3: 15 min)."
    )
    session_absolute_ttl: int = _env(
        "MANDAT_SESSION_ABSOLUTE_TTL", "43200", doc="SSO session absolute lifetime (12 h)."
    )
    interaction_ttl: int = _env(
        "MANDAT_INTERACTION_TTL", "900", doc="How long a login/consent transaction stays open."
    )
    binding_max_age: int = _env(
        "MANDAT_BINDING_MAX_AGE", "600",
        doc="Adding a security key needs a sign-in at most this many seconds old (NIST 800-63B §6.1.2.1); "
            "after that the person signs in again first.",
    )
    login_max_failures: int = _env(
        "MANDAT_LOGIN_MAX_FAILURES", "5",
        doc="Failed passwords per account (and per account+IP) before an exponential backoff starts.",
    )
    login_ip_max_failures: int = _env(
        "MANDAT_LOGIN_IP_MAX_FAILURES", "50", doc="Failed logins per IP per 15 minutes before refusing."
    )
    # Password hashing: argon2id at OWASP's first recommended configuration (Password Storage Cheat Sheet:
    # m=19 MiB, t=2, p=1; it lists m=46 MiB/t=1 and m=12 MiB/t=3 as equivalent). RFC 9106 §4 asks for the most
    # memory the time budget affords; its 64 MiB/t=3/p=4 profile costs ≈160 ms of CPU per login here (about 6
    # logins/s per core), so a clinic's 8 a.m. rush would queue for seconds. 19 MiB/t=2/p=1 costs ≈20 ms of one
    # core (≈50 hashes/s per core, so ≥15 whole password logins/s per core with the rest of the flow), and with
    # two hashes at once a process stays well within its memory budget (46 MiB/t=1 measured ≈46 ms and doubles
    # the memory). p=1 because the server parallelises across logins, not within one: more lanes only split one
    # hash over cores the other logins need. Hashes made with other parameters keep verifying (the parameters
    # are in the hash) and are re-made at the next successful login.
    argon2_time_cost: int = _env(
        "MANDAT_ARGON2_TIME_COST", "2", doc="argon2id passes (t). OWASP: 2 with 19 MiB, 1 with 46 MiB.")
    argon2_memory_kib: int = _env(
        "MANDAT_ARGON2_MEMORY_KIB", "19456", doc="argon2id memory in KiB (m). OWASP minimum: 19456 (19 MiB).")
    argon2_parallelism: int = _env("MANDAT_ARGON2_PARALLELISM", "1", doc="argon2id lanes (p).")
    password_hash_workers: int = _env(
        "MANDAT_PASSWORD_HASH_WORKERS", "0",
        doc="Password hashes computed at once per process, each on its own thread off the event loop (0: one per "
        "CPU core). Memory: this many × MANDAT_ARGON2_MEMORY_KIB at most.",
    )
    password_hash_queue: int = _env(
        "MANDAT_PASSWORD_HASH_QUEUE", "64",
        doc="Password checks that may wait, first come first served, for a free hashing thread; one more is "
        "answered at once with 503 and Retry-After (a plain message on the sign-in page).",
    )
    password_hash_max_wait_ms: int = _env(
        "MANDAT_PASSWORD_HASH_MAX_WAIT_MS", "3000",
        doc="Longest a password check waits for a hashing thread before 503; Retry-After is this, in seconds, "
        "rounded up.",
    )
    # --- clients --------------------------------------------------------------------------------------------
    client_cache_seconds: int = _env(
        "MANDAT_CLIENT_CACHE_SECONDS", "30",
        doc="How long a process keeps a client in memory; client changes reach every process within it.",
    )
    account_keep_seconds: int = _env(
        "MANDAT_ACCOUNT_KEEP_SECONDS", "5",
        doc="How long a process may keep an account it read for userinfo, ID-token claims and refresh before "
        "reading it again. Every change written through Mandat reaches every process at once (a shared stamp in "
        "the ephemeral store, renewed when a transaction writing accounts commits); this only bounds changes "
        "made outside Mandat. 0 turns keeping off.",
    )
    grant_keep_seconds: int = _env(
        "MANDAT_GRANT_KEEP_SECONDS", "5",
        doc="How long a process may keep a grant it read (userinfo, introspection) before reading it again. Every "
        "revocation made by Mandat reaches every process at once whatever this is (a shared stamp in the "
        "ephemeral store); this only bounds changes made outside Mandat, e.g. by hand in the database. 0 turns "
        "keeping off.",
    )
    # --- HTTP -------------------------------------------------------------------------------------------------
    max_body_bytes: int = _env(
        "MANDAT_MAX_BODY_BYTES", "65536", doc="Largest accepted request body; larger gets 413."
    )
    # Request headers (RFC 6585 §5: 431 beyond these). Defaults follow common servers: Apache allows 100 fields
    # of 8190 bytes, nginx 4 buffers of 8 KiB for the whole block. Our own requests need far less: a few
    # cookies, a bearer token, a forwarded client certificate (~3 KiB escaped) behind the card TLS proxy.
    max_header_count: int = _env(
        "MANDAT_MAX_HEADER_COUNT", "100", doc="Most request header fields accepted; more gets 431.",
    )
    max_header_bytes: int = _env(
        "MANDAT_MAX_HEADER_BYTES", "8192",
        doc="Largest single request header field (name + value, in bytes); larger gets 431.",
    )
    max_headers_total_bytes: int = _env(
        "MANDAT_MAX_HEADERS_TOTAL_BYTES", "32768",
        doc="Largest total of all request header fields (names + values, in bytes); larger gets 431.",
    )
    default_locale: str = _env("MANDAT_DEFAULT_LOCALE", "fr", doc="Page language when nothing else says.")
    trusted_proxies: str = _env(
        "MANDAT_TRUSTED_PROXIES", "",
        doc="Comma-separated addresses whose X-Forwarded-For (and client-certificate header) is believed.",
    )
    # --- operations -----------------------------------------------------------------------------------------
    metrics_bind: str = _env(
        "MANDAT_METRICS_BIND", "",
        doc="`host:port` where `serve` exposes Prometheus metrics at /metrics (summed over its worker "
        "processes), apart from the public port so that only the scraper reaches it. Empty: no metrics "
        "endpoint.",
    )
    metrics_dir: str = _env(
        "MANDAT_METRICS_DIR", "",
        doc="Writable folder where worker processes share their metrics (prometheus_client multiprocess mode); "
        "emptied at start. Empty: a fresh folder under the system temporary directory (on a read-only root "
        "filesystem, mount a tmpfs or an emptyDir on /tmp).",
    )
    log_format: str = _env(
        "MANDAT_LOG_FORMAT", "json",
        doc="`json`: one JSON object per line (time, level, logger, message, request_id), for log collectors; "
        "`text`: plain lines for a terminal. Secrets, tokens, codes and PINs are never logged in either.",
    )
    log_level: str = _env("MANDAT_LOG_LEVEL", "info", doc="debug | info | warning | error.")
    ready_timeout: int = _env(
        "MANDAT_READY_TIMEOUT", "2",
        doc="Seconds /readyz waits for each of PostgreSQL and Redis before reporting it down (503).",
    )
    retry_after_seconds: int = _env(
        "MANDAT_RETRY_AFTER_SECONDS", "5",
        doc="Retry-After sent with 503 answers while PostgreSQL or Redis is unreachable.",
    )
    shutdown_grace_seconds: int = _env(
        "MANDAT_SHUTDOWN_GRACE_SECONDS", "20",
        doc="On SIGTERM a process stops accepting connections and lets requests in flight finish for at most "
        "this long. Keep it below Kubernetes' terminationGracePeriodSeconds.",
    )
    # --- demo ---------------------------------------------------------------------------------------------------
    demo: bool = _env(
        "MANDAT_DEMO", "false",
        doc="Demo mode: seeds demo data on `serve` and shows the letters outbox page. Never in production.",
    )
    environ: Mapping[str, str] = field(default_factory=dict, metadata={"doc": "Raw environment, for "
                                       "domain settings (cards, enrollment, passkeys) to read their own."})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = dict(os.environ if environ is None else environ)
        values = read_env_fields(cls, env)
        values.update(overrides)
        values["environ"] = env
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        issuer = urlsplit(self.issuer)
        if issuer.scheme not in {"http", "https"} or not issuer.hostname:
            raise ConfigurationError(f"MANDAT_ISSUER must be an absolute URL, got {self.issuer!r}")
        if issuer.scheme == "http" and issuer.hostname not in {"localhost", "127.0.0.1"}:
            raise ConfigurationError("MANDAT_ISSUER must use https outside localhost")
        if issuer.query or issuer.fragment or self.issuer.endswith("/"):
            raise ConfigurationError("MANDAT_ISSUER must have no query, fragment or trailing slash")
        if not (self.database_url.startswith("sqlite+aiosqlite://")
                or self.database_url.startswith("postgresql+asyncpg://")):
            raise ConfigurationError(
                "MANDAT_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        if self.redis_url is not None and urlsplit(self.redis_url).scheme not in {"redis", "rediss", "unix"}:
            raise ConfigurationError("MANDAT_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        if not 1 <= self.code_ttl <= 60:
            raise ConfigurationError("MANDAT_CODE_TTL must be between 1 and 60 seconds")
        if self.default_locale not in {"fr", "en"}:
            raise ConfigurationError("MANDAT_DEFAULT_LOCALE must be fr or en")
        for name in ("access_token_ttl", "id_token_ttl", "refresh_token_ttl", "grant_absolute_ttl",
                     "offline_grant_absolute_ttl", "session_idle_ttl", "session_absolute_ttl", "interaction_ttl",
                     "binding_max_age",
                     "max_body_bytes", "max_header_count", "max_header_bytes", "max_headers_total_bytes",
                     "login_max_failures", "login_ip_max_failures", "argon2_time_cost",
                     "argon2_parallelism", "db_pool_size", "db_connect_timeout", "store_timeout",
                     "keys_reload_seconds", "ready_timeout", "retry_after_seconds", "shutdown_grace_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{self.env_name(name)} must be positive")
        if self.log_format not in {"json", "text"}:
            raise ConfigurationError("MANDAT_LOG_FORMAT must be json or text")
        if self.log_level not in {"debug", "info", "warning", "error"}:
            raise ConfigurationError("MANDAT_LOG_LEVEL must be debug, info, warning or error")
        if self.metrics_bind:
            self.metrics_address  # noqa: B018 (validates)
        if self.max_headers_total_bytes < self.max_header_bytes:
            raise ConfigurationError("MANDAT_MAX_HEADERS_TOTAL_BYTES must be at least MANDAT_MAX_HEADER_BYTES")
        # argon2 refuses less than 8 KiB per lane; checked here so start-up names the variable instead of
        # failing inside the first hash.
        if self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise ConfigurationError("MANDAT_ARGON2_MEMORY_KIB must be at least 8 × MANDAT_ARGON2_PARALLELISM")

    @classmethod
    def env_name(cls, attribute: str) -> str:
        return str(next(f.metadata["env"] for f in fields(cls) if f.name == attribute))

    @property
    def keys_path(self) -> Path:
        return Path(self.keys_dir)

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.issuer).hostname not in {"localhost", "127.0.0.1"}

    @property
    def proxies(self) -> frozenset[str]:
        return _split_proxies(self.trusted_proxies)

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """(host, port) of MANDAT_METRICS_BIND, or None when metrics are off."""
        if not self.metrics_bind:
            return None
        host, sep, port = self.metrics_bind.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(f"MANDAT_METRICS_BIND must be host:port, got {self.metrics_bind!r}")
        return host.strip("[]"), int(port)

    @property
    def max_token_ttl(self) -> int:
        return max(self.access_token_ttl, self.id_token_ttl)

    def dev_warnings(self) -> list[str]:
        warnings = []
        if self.redis_url is None:
            warnings.append("MANDAT_REDIS_URL is unset: using the in-process store (one server process only)")
        if self.database_url.startswith("sqlite"):
            warnings.append("MANDAT_DATABASE_URL is SQLite: fine for one process and demos, not production")
        if self.demo:
            warnings.append("MANDAT_DEMO is on: demo accounts and the letters outbox page are exposed")
        return warnings

    def domain(self, factory: Callable[[Mapping[str, str]], T]) -> T:
        """Build a domain's own settings object (e.g. `CardSettings.from_env`) from the same environment."""
        return factory(self.environ)
