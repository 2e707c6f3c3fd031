"""Passkey routes: sign-in on the login page, step-up of a weaker sign-in, and the account's keys.

Sign-in (on /interaction/{uid}): username-first (allowCredentials from the typed username), passwordless with a
discoverable credential (the button, or conditional UI in the username field's autofill). Step-up: when the
request asks for more than the person reached (a password gives eidas1, acr_values=eidas2), the interaction asks
each domain's step-up offers; ours proposes "confirm with your security key" (amr pwd+hwk+mfa) if the person
holds a key able to reach the level, else the flow ends in unmet_authentication_requirements. User verification
is asked for as `uv_required` says, and the service re-checks it against the key's owner (professionals always).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idp.accounts.models import Account
from idp.container import Container
from idp.domains import AccountSection, Domain
from idp.errors import InteractionExpired, MandatError
from idp.http.interaction import allow_form_redirects, load_current
from idp.http.oauth_io import client_ip
from idp.http.page_api import as_json_redirect, json_error, json_ok, read_json, require_csrf, text_field
from idp.http.pages import container_of, locale_of, render
from idp.oidc import paths
from idp.oidc.assurance import ACR_LEVELS, EIDAS3, acr_rank
from idp.oidc.authorize import required_acr_rank
from idp.oidc.models import Authentication, Client
from idp.oidc.sessions import Interaction
from idp.passkeys import account_pages
from idp.passkeys.config import PasskeySettings
from idp.passkeys.errors import ChallengeUnknown, MalformedResponse
from idp.passkeys.http import (
    audit_sign_in_failure,
    credential_json,
    remember_purpose,
    service_of,
    take_purpose,
    verify_sign_in,
)
from idp.passkeys.policy import uv_required
from idp.passkeys.service import PasskeyService
from idp.signin.finish import finish_sign_in
from idp.signin.methods import AUDIENCES, SignInMethod

log = logging.getLogger("mandat.passkeys")

__all__ = ["domain", "offer_step_up"]

SIGN_IN, STEP_UP = "sign_in", "step_up"

PASSKEY = SignInMethod(
    name="passkey", template="passkeys/login_method.html", max_acr=EIDAS3, audiences=frozenset(AUDIENCES),
    order=15, context={"account_template": "passkeys/account_login_method.html"})


def domain(container: Container) -> Domain | None:
    settings = container.settings.domain(PasskeySettings.from_env)
    if not settings.enabled:
        log.warning("passkeys are off: the issuer is an IP address and MANDAT_PASSKEYS_RP_ID is unset")
        return None
    return Domain(
        name="passkeys",
        routes=[
            Route(paths.INTERACTION + "/passkeys/options", sign_in_options, methods=["POST"]),
            Route(paths.INTERACTION + "/passkeys/verify", sign_in_verify, methods=["POST"]),
            *account_pages.routes(),
        ],
        sign_in_methods=(PASSKEY,),
        step_ups=(offer_step_up,),
        account_sections=(AccountSection("passkeys/account_section.html", account_pages.section, order=10),),
        services=(PasskeyService(container.db, container.store, settings),),
    )


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
    account = await container.accounts.get(auth.account_id)
    page = render(request, "passkeys/step_up.html", {"uid": interaction.uid, "client": client,
                                                     "username": account.username if account else ""},
                  locale=locale)
    return allow_form_redirects(page, interaction)


# --- sign-in on the login page ---------------------------------------------------------------------------------

async def _ceremony_for(container: Container, interaction: Interaction, mode: str, body: dict[str, Any],
                        requested: str | None) -> tuple[Any, dict[str, Any], bool]:
    service = container.service(PasskeyService)
    purpose: dict[str, Any] = {"uid": interaction.uid, "mode": mode}
    if mode == STEP_UP:
        if interaction.account_id is None:
            raise ChallengeUnknown("step-up asked before any sign-in")
        account = await container.accounts.get(interaction.account_id)
        if account is None:
            raise InteractionExpired(f"account {interaction.account_id} is gone")
        after_password = "pwd" in interaction.amr
        require_uv = uv_required(account.kind, requested, after_password=after_password)
        return (await service.begin_authentication(account, require_uv=require_uv, after_password=after_password),
                purpose, require_uv)
    if mode == SIGN_IN:
        username = text_field(body, "username", malformed=MalformedResponse).strip()
        found = await container.accounts.by_username(username) if username else None
        # An unknown name gets the same discoverable options as no name (the answer does not say whether the
        # account exists); any key used then is refused as "not registered" at the end.
        purpose["unknown_user"] = bool(username) and found is None
        require_uv = uv_required(found.kind if found else None, requested)
        return await service.begin_authentication(found, require_uv=require_uv), purpose, require_uv
    raise ChallengeUnknown(f"unknown ceremony mode {mode!r}")


async def sign_in_options(request: Request) -> Response:
    """Begin a ceremony. Body: {"mode": "sign_in"|"step_up", "username"?: str}."""
    container, interaction = await load_current(request)
    locale = locale_of(request, interaction.request.ui_locales if interaction else ())
    try:
        require_csrf(request, pre_session=True)
        if interaction is None:
            raise InteractionExpired("interaction unknown or not bound to this browser")
        body = await read_json(request, malformed=MalformedResponse)
        mode = text_field(body, "mode", limit=20, malformed=MalformedResponse) or SIGN_IN
        ceremony, purpose, require_uv = await _ceremony_for(container, interaction, mode, body,
                                                            _requested_acr(interaction))
        await remember_purpose(request, ceremony.ceremony_id, purpose)
    except MandatError as error:
        return json_error(error, locale)
    return json_ok({"ceremony": ceremony.ceremony_id, "options": json.loads(ceremony.options_json),
                    "uv_required": require_uv})


async def sign_in_verify(request: Request) -> Response:
    """Finish a ceremony. Body: {"ceremony": str, "credential": PublicKeyCredential JSON}."""
    container, interaction = await load_current(request)
    locale = locale_of(request, interaction.request.ui_locales if interaction else ())
    client_id = interaction.request.client_id if interaction else None
    expected: Account | None = None
    try:
        require_csrf(request, pre_session=True)
        if interaction is None:
            raise InteractionExpired("interaction unknown or not bound to this browser")
        body = await read_json(request, malformed=MalformedResponse)
        ceremony_id = text_field(body, "ceremony", limit=100, malformed=MalformedResponse)
        purpose = await take_purpose(request, ceremony_id)
        if purpose.get("uid") != interaction.uid:
            raise ChallengeUnknown(f"ceremony begun for interaction {purpose.get('uid')}, not {interaction.uid}")
        if purpose.get("mode") == STEP_UP:
            expected = await container.accounts.get(interaction.account_id or "")
            if expected is None:
                raise InteractionExpired("step-up without a signed-in account")
        result = await verify_sign_in(request, ceremony_id, credential_json(body), expected=expected,
                                      unknown_user=bool(purpose.get("unknown_user")))
    except MandatError as error:
        audit_sign_in_failure(container, request, error, client_id=client_id)
        return json_error(error, locale)
    container.audit.record("passkeys:login:succeeded", actor=result.account_id, ip=client_ip(request),
                           client_id=client_id, credential=result.credential.id, acr=result.acr,
                           amr=" ".join(result.amr), step_up=expected is not None or None)
    # A step-up replaces the weaker session: finish_sign_in ends the one this browser held.
    return as_json_redirect(await finish_sign_in(request, result.account_id, result.assurance,
                                                 interaction=interaction))
