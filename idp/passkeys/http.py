"""What the passkey views share: ceremony purposes, the end of a sign-in ceremony, and failure audit.

A ceremony is only as useful as the step that began it: a step-up ceremony (which credits the password already
checked) must not be finished on a plain sign-in endpoint, nor one interaction's on another's, so each begun
ceremony records its purpose in the ephemeral store, taken (single use) when it finishes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request

from idp.accounts.models import Account
from idp.container import Container
from idp.errors import AccountUnavailable, MandatError
from idp.http.oauth_io import client_ip
from idp.http.pages import container_of
from idp.passkeys.errors import ChallengeUnknown, CounterRegression, MalformedResponse, UnknownCredential
from idp.passkeys.interfaces import AuthResult
from idp.passkeys.service import PasskeyService
from idp.store import put_json, take_json

__all__ = ["audit_sign_in_failure", "credential_json", "remember_purpose", "service_of", "take_purpose",
           "verify_sign_in"]

_PURPOSE_PREFIX = "passkeys:purpose:"


def service_of(request: Request) -> PasskeyService:
    return container_of(request).service(PasskeyService)


def credential_json(body: dict[str, Any]) -> str:
    """The browser's PublicKeyCredential JSON, re-serialised for the WebAuthn wrapper (which parses it)."""
    credential = body.get("credential")
    if not isinstance(credential, dict):
        raise MalformedResponse("credential must be a JSON object")
    return json.dumps(credential)


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


async def verify_sign_in(request: Request, ceremony_id: str, response_json: str, *, expected: Account | None,
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


def audit_sign_in_failure(container: Container, request: Request, error: MandatError, *,
                          client_id: str | None) -> None:
    if isinstance(error, CounterRegression):
        # A possible cloned key (WebAuthn §6.1.1): kept apart so it can be alerted on.
        container.audit.record("passkeys:counter:regressed", actor=error.account_id, ip=client_ip(request),
                               client_id=client_id, stored=error.stored, received=error.received)
    container.audit.record("passkeys:login:failed", ip=client_ip(request), client_id=client_id, error=error.code,
                           reason=error.detail or None)
