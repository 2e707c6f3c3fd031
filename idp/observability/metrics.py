"""Prometheus metrics.

One `serve` may run several worker processes, so the metrics live in prometheus_client's multiprocess mode:
every worker writes its values to memory-mapped files in MANDAT_METRICS_DIR, and the endpoint on
MANDAT_METRICS_BIND (a thread of the supervising process) sums them. `serve` prepares the folder before any
worker starts (`idp.observability.process.prepare_multiprocess`): the variable has to be set before
prometheus_client is first imported.
Without `serve` (tests, another ASGI server) the metrics are plain in-process ones.

Label values are always from small fixed sets (route templates, not paths; known grant types; sign-in
methods), so a scanner cannot grow the series without bound.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import multiprocess as _multiprocess

if TYPE_CHECKING:
    from idp.audit import AuditLog
    from idp.settings import Settings

from idp.observability.process import MULTIPROC_ENV

__all__ = ["AUTHENTICATIONS", "LATENCY", "REQUESTS", "STORAGE_ERRORS", "TOKENS", "count_authentications",
           "grant_label", "registry", "start_metrics_server"]

REQUESTS = Counter("mandat_http_requests_total", "HTTP requests by route template, method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram("mandat_http_request_duration_seconds", "Time from request to the end of the response.",
                    ["route"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
TOKENS = Counter("mandat_tokens_issued_total", "Successful token endpoint answers by grant type.", ["grant"])
AUTHENTICATIONS = Counter("mandat_authentications_total", "Sign-in outcomes by method.", ["method", "outcome"])
STORAGE_ERRORS = Counter("mandat_storage_errors_total",
                         "Requests that failed because PostgreSQL or Redis was unreachable (answered 503).",
                         ["backend"])

_GRANTS = {
    "authorization_code": "authorization_code",
    "refresh_token": "refresh_token",
    "client_credentials": "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange": "token_exchange",
    "urn:ietf:params:oauth:grant-type:jwt-bearer": "jwt_bearer",
    "urn:openid:params:grant-type:ciba": "ciba",
    "urn:ietf:params:oauth:grant-type:device_code": "device_code",
}

# The audit tag's source names the sign-in method: `<source>:login:<outcome>`.
_METHODS = {"accounts": "password", "passkeys": "passkey", "cards": "card"}


def grant_label(grant_type: str) -> str:
    return _GRANTS.get(grant_type, "other")


def count_authentications(audit: AuditLog) -> None:
    """Count sign-in outcomes from the audit trail, where every sign-in method already reports them
    (`accounts:login:succeeded`, `passkeys:login:failed`, `cards:login:succeeded`, …): one place for every
    method present and future, and no domain has to know about metrics."""
    record = audit.record

    def observed(tag: str, **fields: Any) -> None:
        source, _, rest = tag.partition(":")
        kind, _, outcome = rest.partition(":")
        if kind == "login" and outcome:
            AUTHENTICATIONS.labels(_METHODS.get(source, source), outcome).inc()
        record(tag, **fields)

    setattr(audit, "record", observed)  # noqa: B010 (an instance attribute, on purpose)


def registry() -> Any:
    """What /metrics exposes: the sum over worker processes in multiprocess mode, else this process."""
    if os.environ.get(MULTIPROC_ENV):
        collected = CollectorRegistry()
        _multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return collected
    from prometheus_client import REGISTRY

    return REGISTRY


def start_metrics_server(settings: Settings) -> tuple[str, int] | None:
    """Serve /metrics on MANDAT_METRICS_BIND from a thread of this (the supervising) process."""
    address = settings.metrics_address
    if address is None:
        return None
    from prometheus_client import start_http_server

    host, port = address
    server, _thread = start_http_server(port, addr=host, registry=registry())
    return host, int(server.server_port)
