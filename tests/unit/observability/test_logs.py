"""JSON log lines with the request id; secrets masked by the last-resort filter."""

from __future__ import annotations

import json
import logging

from idp.observability.logs import REQUEST_ID, JsonFormatter, Redact, redact, request_id_from

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl"


def test_redact_masks_tokens_credentials_and_secret_parameters() -> None:
    line = (f"id_token_hint={JWT}&state=ok Authorization: Bearer abcdefghijklmnop code=Xy12-secret "
            "password=hunter2hunter2 {'client_secret': 's3cr3t-value'} pin=1234 state=keep")
    masked = redact(line)
    for secret in (JWT, "abcdefghijklmnop", "Xy12-secret", "hunter2hunter2", "s3cr3t-value", "1234"):
        assert secret not in masked, secret
    assert "state=ok" in masked and "state=keep" in masked


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("mandat.test", logging.INFO, __file__, 1, message, args, None)


def test_json_line_carries_the_request_id_and_the_masked_message() -> None:
    token = REQUEST_ID.set("req-123")
    try:
        item = record("refresh with %s for %s", f"refresh_token={JWT}", "alice")
        assert Redact().filter(item)
    finally:
        REQUEST_ID.reset(token)
    line = json.loads(JsonFormatter().format(item))
    assert line["request_id"] == "req-123" and line["level"] == "info" and line["logger"] == "mandat.test"
    assert JWT not in line["message"] and "alice" in line["message"]


def test_exceptions_are_masked_too() -> None:
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        import sys

        item = logging.LogRecord("mandat", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    Redact().filter(item)
    line = json.loads(JsonFormatter().format(item))
    assert "ValueError" in line["exception"] and JWT not in line["exception"]


def test_request_ids_from_callers_are_kept_only_when_plain() -> None:
    assert request_id_from(b"abc-DEF_1.2:3") == "abc-DEF_1.2:3"
    for bad in (b"", None, b"a b", b"x" * 129, b"<script>", "é".encode()):
        generated = request_id_from(bad)
        assert generated != bad and len(generated) == 16
