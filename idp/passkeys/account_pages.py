"""The signed-in person's keys: their section of /account, /account/passkeys/new (register), rename, remove, and
the passkey sign-in of /account/login.

**Binding.** A new key is worth no more than the sign-in that binds it (`idp.oidc.assurance`): registering needs
a sign-in at most `MANDAT_BINDING_MAX_AGE` seconds old, and the key is recorded at most at that sign-in's binding
level. A key added after a password-only sign-in therefore never counts as a second factor, and cannot be used
to reach eidas2: one phished password does not become a lasting "MFA" credential. The person is told each time a
key is added (an audit event and a notice on the page, plus a message in the outbox).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from babel.dates import format_date
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from idp.accounts.models import Account
from idp.accounts.views import ACCOUNT, LOGIN, account_login_redirect, next_page_of, render_account_page, signed_in
from idp.errors import MandatError, NotSignedIn, SignInTooOld
from idp.http.oauth_io import NO_STORE, client_ip
from idp.http.page_api import as_json_redirect, json_error, json_ok, read_json, require_csrf, text_field
from idp.http.pages import check_csrf, container_of, form_expired, gettext, locale_of, render
from idp.oidc.assurance import EIDAS2, acr_rank
from idp.passkeys.errors import ChallengeUnknown, InvalidName, LastCredential, MalformedResponse, UnknownCredential
from idp.passkeys.http import (
    audit_sign_in_failure,
    credential_json,
    remember_purpose,
    service_of,
    take_purpose,
    verify_sign_in,
)
from idp.passkeys.policy import uv_required
from idp.signin.finish import finish_sign_in

__all__ = ["routes", "section"]

NEW_KEY = "/account/passkeys/new"
NOTICES = {
    "registered": "Your security key was added.",
    "registered_one_factor": "Your security key was added. It was added after a sign-in with a password only, so "
                             "it does not count as a second factor.",
    "renamed": "The key was renamed.",
    "removed": "The key was removed.",
}


def routes() -> list[BaseRoute]:
    return [
        Route(NEW_KEY, new_key_page),
        Route("/account/passkeys/options", registration_options, methods=["POST"]),
        Route("/account/passkeys/register", registration_finish, methods=["POST"]),
        Route("/account/passkeys/{credential}/rename", rename, methods=["POST"]),
        Route("/account/passkeys/{credential}/remove", remove, methods=["POST"]),
        Route("/account/login/passkeys/options", login_options, methods=["POST"]),
        Route("/account/login/passkeys/verify", login_verify, methods=["POST"]),
    ]


def _day(value: datetime | None, locale: str) -> str | None:
    return None if value is None else format_date(value, format="long", locale=locale)


async def section(request: Request, account: Account) -> Mapping[str, Any]:
    """This domain's part of /account: the keys, and the notice of what was just done."""
    locale = locale_of(request)
    keys = [
        {"id": key.id, "name": key.name, "created": _day(key.created_at, locale),
         "created_iso": key.created_at.isoformat(), "last_used": _day(key.last_used_at, locale),
         "backed_up": key.backed_up, "acr": key.acr, "second_factor": acr_rank(key.acr) >= acr_rank(EIDAS2)}
        for key in await service_of(request).list_credentials(account.id)
    ]
    notice = NOTICES.get(request.query_params.get("done", ""))
    return {"credentials": keys, "notice": gettext(locale, notice) if notice else None}


async def _binding_session(request: Request) -> tuple[str, Account]:
    """The signed-in account and the level at which it may bind a key now, or the refusal to say why not."""
    container = container_of(request)
    signed = await signed_in(request)
    if signed is None:
        raise NotSignedIn("no SSO session")
    session, account = signed
    level = session.binding_level(container.provider.now(), container.provider.config.binding_max_age)
    if level is None:
        raise SignInTooOld(f"sign-in at {session.authentication.auth_time} is too old to bind a key")
    return level, account


async def new_key_page(request: Request) -> Response:
    try:
        await _binding_session(request)
    except NotSignedIn:
        return account_login_redirect(NEW_KEY)
    except SignInTooOld:
        return RedirectResponse(f"{LOGIN}?next={NEW_KEY}&again=1", status_code=303, headers=NO_STORE)
    return render(request, "passkeys/new_key.html", {})


async def _signed_form(request: Request) -> tuple[Account, Any] | Response:
    """The preamble of the key forms: CSRF, then a live session (else the sign-in page)."""
    locale = locale_of(request)
    form = await request.form()
    if not await check_csrf(request, form):
        return form_expired(request, locale)
    signed = await signed_in(request)
    if signed is None:
        return account_login_redirect(ACCOUNT)
    return signed[1], form


async def rename(request: Request) -> Response:
    checked = await _signed_form(request)
    if isinstance(checked, Response):
        return checked
    account, form = checked
    credential = request.path_params["credential"]
    try:
        await service_of(request).rename(account.id, credential, str(form.get("name") or ""))
    except (InvalidName, UnknownCredential) as error:
        return await render_account_page(request, account, error=gettext(locale_of(request), error.public),
                                         error_for=credential, status=400)
    container_of(request).audit.record("passkeys:credential:renamed", actor=account.id, ip=client_ip(request),
                                       credential=credential)
    return RedirectResponse(f"{ACCOUNT}?done=renamed", status_code=303, headers=NO_STORE)


async def remove(request: Request) -> Response:
    """Remove a key. When it is the last way to sign in, answer a confirmation page first (an explicit warning);
    the confirmation posts back with `confirm_last`."""
    checked = await _signed_form(request)
    if isinstance(checked, Response):
        return checked
    account, form = checked
    locale = locale_of(request)
    credential = request.path_params["credential"]
    service = service_of(request)
    try:
        await service.remove(account.id, credential, other_sign_in=account.password_hash is not None,
                             confirm_last=form.get("confirm_last") == "yes")
    except LastCredential as error:
        names = {key.id: key.name for key in await service.list_credentials(account.id)}
        return render(request, "passkeys/remove_last.html", {
            "credential": credential, "name": names.get(credential, ""),
            "warning": gettext(locale, error.public)}, status=409, locale=locale)
    except UnknownCredential as error:
        return await render_account_page(request, account, error=gettext(locale, error.public),
                                         error_for=credential, status=400)
    container_of(request).audit.record("passkeys:credential:removed", actor=account.id, ip=client_ip(request),
                                       credential=credential, last=form.get("confirm_last") == "yes" or None)
    return RedirectResponse(f"{ACCOUNT}?done=removed", status_code=303, headers=NO_STORE)


# --- registration (JSON) ---------------------------------------------------------------------------------------

async def registration_options(request: Request) -> Response:
    locale = locale_of(request)
    try:
        require_csrf(request)
        _, account = await _binding_session(request)
        service = service_of(request)
        # Direct attestation only when an allow-list exists: it is what lets a key earn eidas3, and asking for it
        # otherwise makes some browsers show an extra privacy prompt for nothing.
        ceremony = await service.begin_registration(account, require_uv=uv_required(account.kind, None),
                                                    attestation=bool(service.settings.aaguid_allow_list))
    except MandatError as error:
        return json_error(error, locale)
    return json_ok({"ceremony": ceremony.ceremony_id, "options": json.loads(ceremony.options_json)})


async def registration_finish(request: Request) -> Response:
    """Body: {"ceremony", "credential", "name"}. The service binds the ceremony to the account it began for, and
    records the key at most at the level of the sign-in that binds it."""
    container = container_of(request)
    locale = locale_of(request)
    account: Account | None = None
    try:
        require_csrf(request)
        level, account = await _binding_session(request)
        body = await read_json(request, malformed=MalformedResponse)
        credential = await service_of(request).finish_registration(
            account, text_field(body, "ceremony", limit=100, malformed=MalformedResponse), credential_json(body),
            text_field(body, "name", malformed=MalformedResponse), bound_at=level)
    except MandatError as error:
        container.audit.record("passkeys:credential:refused", actor=account.id if account else None,
                               ip=client_ip(request), error=error.code, reason=error.detail or None)
        return json_error(error, locale)
    container.audit.record("passkeys:credential:registered", actor=account.id, ip=client_ip(request),
                           credential=credential.id, acr=credential.acr, bound_at=level, aaguid=credential.aaguid,
                           fmt=credential.attestation_fmt, backup_eligible=credential.backup_eligible)
    done = "registered" if acr_rank(credential.acr) >= acr_rank(EIDAS2) else "registered_one_factor"
    return json_ok({"redirect": f"{ACCOUNT}?done={done}"})


# --- sign-in outside an authorization request ------------------------------------------------------------------

async def login_options(request: Request) -> Response:
    container = container_of(request)
    locale = locale_of(request)
    try:
        require_csrf(request, pre_session=True)
        body = await read_json(request, malformed=MalformedResponse)
        if (text_field(body, "mode", limit=20, malformed=MalformedResponse) or "sign_in") != "sign_in":
            raise ChallengeUnknown(f"unknown ceremony mode {body.get('mode')!r} on the account sign-in")
        username = text_field(body, "username", malformed=MalformedResponse).strip()
        found = await container.accounts.by_username(username) if username else None
        require_uv = uv_required(found.kind if found else None, None)
        ceremony = await service_of(request).begin_authentication(found, require_uv=require_uv)
        await remember_purpose(request, ceremony.ceremony_id, {
            "uid": None, "mode": "account", "unknown_user": bool(username) and found is None})
    except MandatError as error:
        return json_error(error, locale)
    return json_ok({"ceremony": ceremony.ceremony_id, "options": json.loads(ceremony.options_json),
                    "uv_required": require_uv})


async def login_verify(request: Request) -> Response:
    container = container_of(request)
    locale = locale_of(request)
    try:
        require_csrf(request, pre_session=True)
        body = await read_json(request, malformed=MalformedResponse)
        ceremony_id = text_field(body, "ceremony", limit=100, malformed=MalformedResponse)
        purpose = await take_purpose(request, ceremony_id)
        if purpose.get("mode") != "account":
            raise ChallengeUnknown(f"ceremony begun for {purpose.get('mode')}, finished on the account sign-in")
        result = await verify_sign_in(request, ceremony_id, credential_json(body), expected=None,
                                      unknown_user=bool(purpose.get("unknown_user")))
        next_page = next_page_of(text_field(body, "next", limit=100, malformed=MalformedResponse))
    except MandatError as error:
        audit_sign_in_failure(container, request, error, client_id=None)
        return json_error(error, locale)
    container.audit.record("passkeys:login:succeeded", actor=result.account_id, ip=client_ip(request),
                           credential=result.credential.id, acr=result.acr, amr=" ".join(result.amr),
                           context="account")
    return as_json_redirect(await finish_sign_in(request, result.account_id, result.assurance, next_page=next_page))
