"""Passkey routes: sign-in on the login page, step-up of a weaker sign-in, and the account pages.

Sign-in (on /interaction/{uid}): username-first (allowCredentials from the typed username), passwordless with a
discoverable credential (the button, or conditional UI in the username field's autofill). Step-up: when the
request asks for more than the person reached (a password gives eidas1, acr_values=eidas2), `show()` asks the
offers in `container.services["step_up"]`; ours proposes "confirm with your security key" (amr pwd+hwk+mfa,
DESIGN.md §5) if the person holds a key able to reach the level, else the flow ends in
unmet_authentication_requirements. User verification is asked for as `uv_required` says, and the service
re-checks it against the key's owner (professionals always, §7).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from idp.accounts.models import Account
from idp.container import Container
from idp.http.interaction import allow_form_redirects, load_current, signed_in
from idp.http.pages import container_of, locale_of, render
from idp.http.protocol import SESSION_COOKIE, client_ip
from idp.oidc.authorize import required_acr_rank
from idp.oidc.models import Authentication, Client
from idp.oidc.sessions import Interaction, end_session, load_session
from idp.passkeys.account_pages import account_routes
from idp.passkeys.config import PasskeySettings
from idp.passkeys.errors import ChallengeUnknown, PasskeyError
from idp.passkeys.http import (
    CsrfRefused,
    InteractionExpired,
    as_json_redirect,
    audit_sign_in_failure,
    credential_json,
    csrf_valid,
    finish_sign_in,
    json_body,
    json_error,
    ok,
    remember_purpose,
    service_of,
    take_purpose,
    text_field,
)
from idp.passkeys.policy import ACR_LEVELS, acr_rank, uv_required
from idp.passkeys.service import PasskeyService

log = logging.getLogger("mandat.passkeys")

__all__ = ["extension", "offer_step_up"]

SIGN_IN, STEP_UP = "sign_in", "step_up"


def extension(container: Container) -> list[BaseRoute]:
    settings = container.settings.domain(PasskeySettings.from_env)
    if not settings.enabled:
        log.warning("passkeys are off: the issuer is an IP address and MANDAT_PASSKEYS_RP_ID is unset")
        return []
    container.services["passkeys"] = PasskeyService(container.db, container.store, settings)
    container.add_login_method("passkeys/login_method.html", order=10)
    container.services.setdefault("step_up", []).append(offer_step_up)
    return [
        Route("/interaction/{uid}/passkeys/options", sign_in_options, methods=["POST"]),
        Route("/interaction/{uid}/passkeys/verify", sign_in_verify, methods=["POST"]),
        *account_routes(),
    ]


def _requested_acr(interaction: Interaction) -> str | None:
    rank = required_acr_rank(interaction.request)
    return ACR_LEVELS[rank - 1] if rank else None


# --- step-up ---------------------------------------------------------------------------------------------------

async def offer_step_up(request: Request, interaction: Interaction, client: Client, auth: Authentication,
                        locale: str) -> Response | None:
    """The "confirm with your security key" page, if one of the person's keys can reach the requested level."""
    container = container_of(request)
    required = required_acr_rank(interaction.request)
    keys = await service_of(request).list_credentials(auth.account_id)
    if not any(acr_rank(key.acr) >= required for key in keys):
        return None
    page = render(request, "passkeys/step_up.html", {"uid": interaction.uid, "client": client,
                                                     "username": await _username(container, auth.account_id)},
                  locale=locale)
    return allow_form_redirects(page, interaction)


async def _username(container: Container, account_id: str) -> str:
    account = await container.accounts.get(account_id)
    return account.username if account is not None else ""


# --- sign-in on the login page ---------------------------------------------------------------------------------

async def sign_in_options(request: Request) -> Response:
    """Begin a ceremony. Body: {"mode": "sign_in"|"step_up", "username"?: str}."""
    container, interaction = await load_current(request)
    locale = locale_of(request, interaction.request.ui_locales if interaction else ())
    if not csrf_valid(request, pre_session=True):
        return json_error(CsrfRefused("no or bad X-CSRF-Token"), locale, status=403)
    if interaction is None:
        return json_error(InteractionExpired("interaction unknown or not bound to this browser"), locale)
    service = service_of(request)
    requested = _requested_acr(interaction)
    try:
        body = await json_body(request)
        mode = text_field(body, "mode", limit=20) or SIGN_IN
        purpose: dict[str, Any] = {"uid": interaction.uid, "mode": mode}
        if mode == STEP_UP:
            if interaction.account_id is None:
                raise ChallengeUnknown("step-up asked before any sign-in")
            account = await container.accounts.get(interaction.account_id)
            if account is None:
                raise InteractionExpired(f"account {interaction.account_id} is gone")
            after_password = "pwd" in interaction.amr
            require_uv = uv_required(account.kind, requested, after_password=after_password)
            ceremony = await service.begin_authentication(account, require_uv=require_uv,
                                                          after_password=after_password)
        elif mode == SIGN_IN:
            username = text_field(body, "username").strip()
            found = await container.accounts.by_username(username) if username else None
            # An unknown name gets the same discoverable options as no name (the answer does not say whether
            # the account exists); any key used then is refused as "not registered" at the end.
            purpose["unknown_user"] = bool(username) and found is None
            require_uv = uv_required(found.kind if found else None, requested)
            ceremony = await service.begin_authentication(found, require_uv=require_uv)
        else:
            raise ChallengeUnknown(f"unknown ceremony mode {mode!r}")
        await remember_purpose(request, ceremony.ceremony_id, purpose)
    except PasskeyError as error:
        return json_error(error, locale)
    return ok({"ceremony": ceremony.ceremony_id, "options": json.loads(ceremony.options_json),
               "uv_required": require_uv})


async def sign_in_verify(request: Request) -> Response:
    """Finish a ceremony. Body: {"ceremony": str, "credential": PublicKeyCredential JSON}."""
    container, interaction = await load_current(request)
    locale = locale_of(request, interaction.request.ui_locales if interaction else ())
    if not csrf_valid(request, pre_session=True):
        return json_error(CsrfRefused("no or bad X-CSRF-Token"), locale, status=403)
    if interaction is None:
        return json_error(InteractionExpired("interaction unknown or not bound to this browser"), locale)
    client = await container.clients.get(interaction.request.client_id)
    try:
        body = await json_body(request)
        ceremony_id = text_field(body, "ceremony", limit=100)
        purpose = await take_purpose(request, ceremony_id)
        if purpose.get("uid") != interaction.uid:
            raise ChallengeUnknown(f"ceremony begun for interaction {purpose.get('uid')}, not {interaction.uid}")
        expected: Account | None = None
        if purpose.get("mode") == STEP_UP:
            expected = await container.accounts.get(interaction.account_id or "")
            if expected is None:
                raise InteractionExpired("step-up without a signed-in account")
        result = await finish_sign_in(request, ceremony_id, credential_json(body), expected=expected,
                                      unknown_user=bool(purpose.get("unknown_user")))
    except PasskeyError as error:
        audit_sign_in_failure(container, request, error, client_id=client.client_id if client else None)
        return json_error(error, locale)
    container.audit.record("passkeys:login:succeeded", actor=result.account_id, ip=client_ip(request),
                           client_id=client.client_id if client else None, credential=result.credential.id,
                           acr=result.acr, amr=" ".join(result.amr), step_up=expected is not None or None)
    if expected is not None:
        # The stepped-up session replaces the weaker one rather than living beside it.
        previous = await load_session(container.provider, request.cookies.get(SESSION_COOKIE), touch=False)
        if previous is not None and previous.authentication.account_id == result.account_id:
            await end_session(container.provider, previous)
    redirect = await signed_in(request, container, interaction, result.account_id, result.acr, result.amr)
    return as_json_redirect(redirect)
