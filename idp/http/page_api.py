"""The JSON calls our page scripts make (passkeys.js, cards.js, …): one CSRF check, one body reader, one error
shape, for every domain.

Scripts send the page's CSRF token in `X-CSRF-Token`. Errors answer `{"error": <code>, "message": <public
text in the page's language>}` with the error's status; the private detail goes to the log only.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.errors import CsrfRefused, MalformedBody, MandatError
from idp.http.oauth_io import NO_STORE
from idp.http.pages import check_csrf_header, gettext

__all__ = ["as_json_redirect", "json_error", "json_ok", "read_json", "require_csrf", "text_field"]

log = logging.getLogger("mandat.http")

MAX_JSON_BYTES = 16384


def require_csrf(request: Request, *, pre_session: bool = False) -> None:
    """`pre_session=True` only for calls that sign in (see `pages.check_csrf`)."""
    if not check_csrf_header(request, pre_session=pre_session):
        raise CsrfRefused("no or bad X-CSRF-Token")


async def read_json(request: Request, *, malformed: type[MandatError] = MalformedBody) -> dict[str, Any]:
    """The request's JSON object; anything else raises `malformed` (the browser or the script is broken)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise malformed("content type is not application/json")
    raw = await request.body()
    if len(raw) > MAX_JSON_BYTES:
        raise malformed("body too large")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise malformed("body is not JSON") from None
    if not isinstance(body, dict):
        raise malformed("body is not a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, *, limit: int = 200,
               malformed: type[MandatError] = MalformedBody) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise malformed(f"{name} must be a string of at most {limit} characters")
    return value


def json_error(error: MandatError, locale: str, *, status: int | None = None) -> JSONResponse:
    log.info("page call refused: %s (%s)", error.code, error.detail)
    return JSONResponse({"error": error.code, "message": gettext(locale, error.public)},
                        status_code=status or error.status, headers=NO_STORE)


def json_ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers=NO_STORE)


def as_json_redirect(redirect: Response) -> JSONResponse:
    """A 303 made for a form post, re-shaped for fetch(): the target in the body, the cookies kept."""
    response = json_ok({"redirect": redirect.headers["location"]})
    for name, value in redirect.raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, value))
    return response
