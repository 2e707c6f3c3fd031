"""Structured logs: one JSON object per line, carrying the id of the request being served.

The request id comes from the `X-Request-Id` header when it is well formed (nginx sets it, see
deploy/nginx/mandat.conf.template, so one id follows a request through the proxy and the IdP), else a fresh
one; it is echoed in the response. Every record logged while a request is served carries it.

Secrets stay out of the logs by construction: nothing logs a request body, a query string, a cookie or an
Authorization header (our access line names the route template, not the URL; uvicorn's own access log, which
prints query strings, is off), and SQL parameters are hidden (`hide_parameters` in idp/db.py). `Redact` is the
last line of defence: it masks anything in a message that is shaped like a JWT, an Authorization credential or
a `name=value` pair of a secret parameter. tests/e2e/production scans a whole topology run's logs for the
known test secrets.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from idp.settings import Settings

__all__ = ["REQUEST_ID", "JsonFormatter", "Redact", "logging_config", "new_request_id", "redact",
           "request_id_from"]

REQUEST_ID: ContextVar[str | None] = ContextVar("mandat_request_id", default=None)

_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_PATTERNS = [
    # JWTs (ID tokens, access tokens, client assertions, logout tokens): header.payload[.signature]
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?"), "[jwt]"),
    # Authorization header values
    (re.compile(r"(?i)\b(bearer|basic|dpop)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    # secret parameters in a query string, a form body or a repr: name=value / 'name': 'value'
    (re.compile(r"(?i)\b(code|code_verifier|password|new_password|pin|puk|client_secret|client_assertion|"
                r"access_token|refresh_token|id_token|id_token_hint|subject_token|actor_token|token|"
                r"csrf_token|logout_token|security_code)(=|['\"]?\s*:\s*['\"]?)[^&\s'\",;)}]+"), r"\1\2[redacted]"),
]


def redact(message: str) -> str:
    for pattern, replacement in _PATTERNS:
        message = pattern.sub(replacement, message)
    return message


def new_request_id() -> str:
    return secrets.token_hex(8)


def request_id_from(header: bytes | None) -> str:
    """The caller's id if it is a plain token of at most 128 characters, else a new one."""
    if header:
        value = header.decode("latin-1")
        if _VALID_ID.fullmatch(value):
            return value
    return new_request_id()


class Redact(logging.Filter):
    """Formats the record's message once, masked, and adds the current request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
            "process": record.process,
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            body["request_id"] = request_id
        for name in ("method", "route", "status", "duration_ms", "client"):
            value = getattr(record, name, None)
            if value is not None:
                body[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            body["exception"] = record.exc_text
        return json.dumps(body, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id") or record.request_id is None:
            record.request_id = "-"
        return super().format(record)


def logging_config(settings: Settings, *, access_log: bool = False) -> dict[str, Any]:
    """`logging.config.dictConfig` for `serve` (passed to uvicorn as `log_config`, so workers use it too)."""
    level = settings.log_level.upper()
    formatter = "json" if settings.log_format == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": Redact}},
        "formatters": {"json": {"()": JsonFormatter}, "text": {"()": TextFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": formatter,
                                "filters": ["redact"]}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            # uvicorn's access lines print the query string (codes, id_token_hint): never on.
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            "mandat.access": {"level": "INFO" if access_log else "WARNING"},
        },
    }
