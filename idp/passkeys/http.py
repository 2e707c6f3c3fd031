"""HTTP glue shared by the passkey views: CSRF on JSON calls, request bodies, error answers, ceremony purposes.

Every JSON endpoint is called by /static/passkeys.js with the page's CSRF token in `X-CSRF-Token` (the
double-submit check of idp.http.csrf, as for forms). Errors answer `{"error": <PasskeyError.code>, "message":
<public text in the page's language>}`; the private detail goes to the log and the audit trail only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.accounts.models import Account
from idp.container import Container
from idp.http import csrf
from idp.http.pages import check_csrf_header, container_of, gettext
from idp.http.protocol import NO_STORE, client_ip
from idp.passkeys.errors import ChallengeUnknown, CounterRegression, MalformedResponse, PasskeyError, UnknownCredential
from idp.passkeys.interfaces import AuthResult
from idp.passkeys.service import PasskeyService
from idp.store import put_json, take_json

__all__ = [
    "CSRF_HEADER", "AccountUnavailable", "CsrfRefused", "InteractionExpired", "NotSignedIn", "as_json_redirect",
    "audit_sign_in_failure", "credential_json", "csrf_valid", "finish_sign_in", "json_body", "json_error", "ok",
    "remember_purpose", "service_of", "take_purpose", "text_field",
]

log = logging.getLogger("mandat.passkeys")

CSRF_HEADER = csrf.HEADER
# A ceremony is only as useful as the step that began it: a step-up ceremony (which credits the password
# already checked) must not be finished on a plain sign-in endpoint, nor one interaction's on another's.
_PURPOSE_PREFIX = "passkeys:purpose:"


class CsrfRefused(PasskeyError):
    code = "csrf_invalid"
    public = "For your security, this page has expired. Reload it and try again."


class InteractionExpired(PasskeyError):
    code = "interaction_expired"
    public = "This sign-in page has expired. Go back to the site you came from and choose sign in again."


class NotSignedIn(PasskeyError):
    code = "not_signed_in"
    public = "You are no longer signed in. Sign in again to manage your security keys."


class AccountUnavailable(PasskeyError):
    code = "account_unavailable"
    public = "This account cannot sign in at the moment. Contact support."


def service_of(request: Request) -> PasskeyService:
    service: PasskeyService = container_of(request).services["passkeys"]
    return service


csrf_valid = check_csrf_header


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; anything else is `malformed` (the browser or the script is broken)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise MalformedResponse("content type is not application/json")
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, ValueError):
        raise MalformedResponse("body is not JSON") from None
    if not isinstance(body, dict):
        raise MalformedResponse("body is not a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, *, limit: int = 200) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise MalformedResponse(f"{name} must be a string of at most {limit} characters")
    return value


def credential_json(body: dict[str, Any]) -> str:
    """The browser's PublicKeyCredential JSON, re-serialised for the WebAuthn wrapper (which parses it)."""
    credential = body.get("credential")
    if not isinstance(credential, dict):
        raise MalformedResponse("credential must be a JSON object")
    return json.dumps(credential)


def json_error(error: PasskeyError, locale: str, *, status: int = 400) -> JSONResponse:
    log.info("passkeys: %s (%s)", error.code, error.detail)
    return JSONResponse({"error": error.code, "message": gettext(locale, error.public)}, status_code=status,
                        headers=NO_STORE)


def ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers=NO_STORE)


def _purpose_key(ceremony_id: str) -> str:
    return _PURPOSE_PREFIX + hashlib.sha256(ceremony_id.encode()).hexdigest()


async def remember_purpose(request: Request, ceremony_id: str, purpose: dict[str, Any]) -> None:
    container = container_of(request)
    await put_json(container.store, _purpose_key(ceremony_id), purpose, service_of(request).settings.challenge_ttl)


async def take_purpose(request: Request, ceremony_id: str) -> dict[str, Any]:
    """The purpose the ceremony was begun for (taken: single use); `challenge_unknown` if there is none."""
    container = container_of(request)
    record = await take_json(container.store, _purpose_key(ceremony_id)) if 0 < len(ceremony_id) <= 100 else None
    if not isinstance(record, dict):
        raise ChallengeUnknown("no purpose recorded for this ceremony (unknown, expired or already used)")
    return record


async def finish_sign_in(request: Request, ceremony_id: str, response_json: str, *, expected: Account | None,
                         unknown_user: bool = False) -> AuthResult:
    """Verify the assertion, then refuse what the service cannot know about: a name typed that matched no
    account, and an account that may not sign in (locked, disabled)."""
    container = container_of(request)
    result = await service_of(request).finish_authentication(ceremony_id, response_json, expected_account=expected)
    if unknown_user:
        raise UnknownCredential("the username typed before this sign-in matches no account")
    if not await container.accounts.is_active(result.account_id):
        raise AccountUnavailable(f"account {result.account_id} is not active")
    return result


def audit_sign_in_failure(container: Container, request: Request, error: PasskeyError, *,
                          client_id: str | None) -> None:
    if isinstance(error, CounterRegression):
        # A possible cloned key (WebAuthn §6.1.1): kept apart so it can be alerted on.
        container.audit.record("passkeys:counter:regressed", actor=error.account_id, ip=client_ip(request),
                               client_id=client_id, stored=error.stored, received=error.received)
    container.audit.record("passkeys:login:failed", ip=client_ip(request), client_id=client_id, error=error.code,
                           reason=error.detail or None)


def as_json_redirect(redirect: Response) -> JSONResponse:
    """A 303 made for a form post, re-shaped for fetch(): the target in the body, the cookies kept."""
    response = ok({"redirect": redirect.headers["location"]})
    for name, value in redirect.raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, value))
    return response
