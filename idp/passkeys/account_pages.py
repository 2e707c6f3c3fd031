"""The signed-in person's security keys: /account (list, rename, remove), /account/passkeys/new (register),
/account/login (password or passkey, outside any authorization request) and /account/logout.

"Signed in" means the SSO session cookie (`mandat_session`). /account/passkeys/new is the address other
flows link to right after an activation (citizens) or a card login (professionals). Forms carry the CSRF
field; the JSON calls of /static/passkeys.js carry it in X-CSRF-Token.
"""

from __future__ import annotations

import json
from datetime import datetime

from babel.dates import format_date
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from idp.accounts.models import Account
from idp.http.pages import (
    check_csrf,
    container_of,
    form_expired,
    gettext,
    locale_of,
    render,
    set_session_cookie,
)
from idp.http.protocol import NO_STORE, SESSION_COOKIE, client_ip
from idp.oidc.sessions import Session, create_session, end_session, load_session
from idp.passkeys.errors import ChallengeUnknown, InvalidName, LastCredential, PasskeyError, UnknownCredential
from idp.passkeys.http import (
    CsrfRefused,
    NotSignedIn,
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
from idp.passkeys.policy import uv_required

__all__ = ["account_routes"]

ACCOUNT, NEW_KEY, LOGIN = "/account", "/account/passkeys/new", "/account/login"
# Where /account/login may send the person back to: our own pages only (no open redirect).
_NEXT_PAGES = frozenset({ACCOUNT, NEW_KEY})
DONE_MESSAGES = {
    "registered": "Your security key was added.",
    "renamed": "The key was renamed.",
    "removed": "The key was removed.",
}


def account_routes() -> list[BaseRoute]:
    return [
        Route(ACCOUNT, account_page),
        Route(NEW_KEY, new_key_page),
        Route("/account/passkeys/options", registration_options, methods=["POST"]),
        Route("/account/passkeys/register", registration_finish, methods=["POST"]),
        Route("/account/passkeys/{credential}/rename", rename, methods=["POST"]),
        Route("/account/passkeys/{credential}/remove", remove, methods=["POST"]),
        Route(LOGIN, login_page, methods=["GET"]),
        Route(LOGIN, password_login, methods=["POST"]),
        Route("/account/login/passkeys/options", login_options, methods=["POST"]),
        Route("/account/login/passkeys/verify", login_verify, methods=["POST"]),
        Route("/account/logout", logout, methods=["POST"]),
    ]


async def _signed_in(request: Request) -> tuple[Session, Account] | None:
    container = container_of(request)
    session = await load_session(container.provider, request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    account = await container.accounts.get(session.authentication.account_id)
    if account is None or account.status != "active":
        return None
    return session, account


def _next(value: str | None) -> str:
    return value if value in _NEXT_PAGES else ACCOUNT


def _to_login(next_page: str) -> Response:
    return RedirectResponse(f"{LOGIN}?next={next_page}", status_code=303, headers=NO_STORE)


def _day(value: datetime | None, locale: str) -> str | None:
    return None if value is None else format_date(value, format="long", locale=locale)


# --- the account page ------------------------------------------------------------------------------------------

async def account_page(request: Request, *, error: str | None = None, error_for: str | None = None,
                       status: int = 200) -> Response:
    signed = await _signed_in(request)
    if signed is None:
        return _to_login(ACCOUNT)
    _, account = signed
    locale = locale_of(request)
    keys = [
        {"id": key.id, "name": key.name, "created": _day(key.created_at, locale),
         "created_iso": key.created_at.isoformat(), "last_used": _day(key.last_used_at, locale),
         "backed_up": key.backed_up, "acr": key.acr}
        for key in await service_of(request).list_credentials(account.id)
    ]
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return render(request, "passkeys/account.html", {
        "account": account, "keys": keys, "done": gettext(locale, done) if done else None, "error": error,
        "error_for": error_for, "has_password": account.password_hash is not None}, status=status, locale=locale)


async def new_key_page(request: Request) -> Response:
    if await _signed_in(request) is None:
        return _to_login(NEW_KEY)
    return render(request, "passkeys/new_key.html", {})


async def rename(request: Request) -> Response:
    locale = locale_of(request)
    form = await request.form()
    if not await check_csrf(request, form):
        return form_expired(request, locale)
    signed = await _signed_in(request)
    if signed is None:
        return _to_login(ACCOUNT)
    account = signed[1]
    credential = request.path_params["credential"]
    try:
        await service_of(request).rename(account.id, credential, str(form.get("name") or ""))
    except (InvalidName, UnknownCredential) as error:
        return await account_page(request, error=gettext(locale, error.public), error_for=credential, status=400)
    container_of(request).audit.record("passkeys:credential:renamed", actor=account.id, ip=client_ip(request),
                                       credential=credential)
    return RedirectResponse(f"{ACCOUNT}?done=renamed", status_code=303, headers=NO_STORE)


async def remove(request: Request) -> Response:
    """Remove a key. When it is the last way to sign in, answer a confirmation page first (§ issue: an explicit
    warning); the confirmation posts back with `confirm_last`."""
    locale = locale_of(request)
    form = await request.form()
    if not await check_csrf(request, form):
        return form_expired(request, locale)
    signed = await _signed_in(request)
    if signed is None:
        return _to_login(ACCOUNT)
    account = signed[1]
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
        return await account_page(request, error=gettext(locale, error.public), error_for=credential, status=400)
    container_of(request).audit.record("passkeys:credential:removed", actor=account.id, ip=client_ip(request),
                                       credential=credential, last=form.get("confirm_last") == "yes" or None)
    return RedirectResponse(f"{ACCOUNT}?done=removed", status_code=303, headers=NO_STORE)


# --- registration (JSON) ---------------------------------------------------------------------------------------

async def registration_options(request: Request) -> Response:
    locale = locale_of(request)
    if not csrf_valid(request):
        return json_error(CsrfRefused("no or bad X-CSRF-Token"), locale, status=403)
    signed = await _signed_in(request)
    if signed is None:
        return json_error(NotSignedIn("no SSO session"), locale, status=401)
    account = signed[1]
    service = service_of(request)
    # Direct attestation only when an allow-list exists: it is what lets a key earn eidas3 (§5), and asking
    # for it otherwise makes some browsers show an extra privacy prompt for nothing.
    ceremony = await service.begin_registration(account, require_uv=uv_required(account.kind, None),
                                                attestation=bool(service.settings.aaguid_allow_list))
    return ok({"ceremony": ceremony.ceremony_id, "options": json.loads(ceremony.options_json)})


async def registration_finish(request: Request) -> Response:
    """Body: {"ceremony", "credential", "name"}. The service binds the ceremony to the account it began for."""
    locale = locale_of(request)
    if not csrf_valid(request):
        return json_error(CsrfRefused("no or bad X-CSRF-Token"), locale, status=403)
    signed = await _signed_in(request)
    if signed is None:
        return json_error(NotSignedIn("no SSO session"), locale, status=401)
    account = signed[1]
    try:
        body = await json_body(request)
        credential = await service_of(request).finish_registration(
            account, text_field(body, "ceremony", limit=100), credential_json(body), text_field(body, "name"))
    except PasskeyError as error:
        container_of(request).audit.record("passkeys:credential:refused", actor=account.id, ip=client_ip(request),
                                           error=error.code, reason=error.detail or None)
        return json_error(error, locale)
    container_of(request).audit.record("passkeys:credential:registered", actor=account.id, ip=client_ip(request),
                                       credential=credential.id, acr=credential.acr, aaguid=credential.aaguid,
                                       fmt=credential.attestation_fmt, backup_eligible=credential.backup_eligible)
    return ok({"redirect": f"{ACCOUNT}?done=registered"})


# --- sign-in and sign-out outside an authorization request -----------------------------------------------------

async def login_page(request: Request, *, error: str | None = None, status: int = 200,
                     username: str = "") -> Response:
    next_page = _next(request.query_params.get("next"))
    if status == 200 and await _signed_in(request) is not None:
        return RedirectResponse(next_page, status_code=303, headers=NO_STORE)
    return render(request, "passkeys/account_login.html", {"next": next_page, "error": error, "username": username},
                  status=status)


def _session_redirect(request: Request, target: str, session: Session) -> RedirectResponse:
    response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    set_session_cookie(request, response, session.token)
    return response


async def password_login(request: Request) -> Response:
    container = container_of(request)
    locale = locale_of(request)
    form = await request.form()
    if not await check_csrf(request, form, pre_session=True):
        return form_expired(request, locale)
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    if not username or not password:
        return await login_page(request, status=400, username=username,
                                error=gettext(locale, "Enter your username and your password."))
    result = await container.accounts.login_with_password(username, password, client_ip(request))
    if result.retry_after:
        container.audit.record("accounts:login:throttled", ip=client_ip(request))
        minutes = max(1, (result.retry_after + 59) // 60)
        return await login_page(request, status=429, username=username, error=gettext(
            locale, "Too many attempts. Wait {minutes} minute(s), or sign in with your card or security key.",
            minutes=minutes))
    if result.account is None:
        container.audit.record("accounts:login:failed", ip=client_ip(request))
        return await login_page(request, status=401, username=username, error=gettext(
            locale, "The username or password is incorrect. Check them and try again."))
    container.audit.record("accounts:login:succeeded", actor=result.account.id, ip=client_ip(request), method="pwd",
                           context="account")
    session = await create_session(container.provider, result.account.id, "eidas1", ("pwd",))
    return _session_redirect(request, _next(str(form.get("next") or "")), session)


async def login_options(request: Request) -> Response:
    container = container_of(request)
    locale = locale_of(request)
    if not csrf_valid(request, pre_session=True):
        return json_error(CsrfRefused("no or bad X-CSRF-Token"), locale, status=403)
    try:
        body = await json_body(request)
        if (text_field(body, "mode", limit=20) or "sign_in") != "sign_in":
            raise ChallengeUnknown(f"unknown ceremony mode {body.get('mode')!r} on the account sign-in")
        username = text_field(body, "username").strip()
        found = await container.accounts.by_username(username) if username else None
        require_uv = uv_required(found.kind if found else None, None)
        ceremony = await service_of(request).begin_authentication(found, require_uv=require_uv)
        await remember_purpose(request, ceremony.ceremony_id, {
            "uid": None, "mode": "account", "unknown_user": bool(username) and found is None})
    except PasskeyError as error:
        return json_error(error, locale)
    return ok({"ceremony": ceremony.ceremony_id, "options": json.loads(ceremony.options_json),
               "uv_required": require_uv})


async def login_verify(request: Request) -> Response:
    container = container_of(request)
    locale = locale_of(request)
    if not csrf_valid(request, pre_session=True):
        return json_error(CsrfRefused("no or bad X-CSRF-Token"), locale, status=403)
    try:
        body = await json_body(request)
        ceremony_id = text_field(body, "ceremony", limit=100)
        purpose = await take_purpose(request, ceremony_id)
        if purpose.get("mode") != "account":
            raise ChallengeUnknown(f"ceremony begun for {purpose.get('mode')}, finished on the account sign-in")
        result = await finish_sign_in(request, ceremony_id, credential_json(body), expected=None,
                                      unknown_user=bool(purpose.get("unknown_user")))
    except PasskeyError as error:
        audit_sign_in_failure(container, request, error, client_id=None)
        return json_error(error, locale)
    container.audit.record("passkeys:login:succeeded", actor=result.account_id, ip=client_ip(request),
                           credential=result.credential.id, acr=result.acr, amr=" ".join(result.amr),
                           context="account")
    session = await create_session(container.provider, result.account_id, result.acr, result.amr)
    redirect = _session_redirect(request, _next(text_field(body, "next", limit=100)), session)
    return as_json_redirect(redirect)


async def logout(request: Request) -> Response:
    container = container_of(request)
    form = await request.form()
    if not await check_csrf(request, form):
        return form_expired(request, locale_of(request))
    session = await load_session(container.provider, request.cookies.get(SESSION_COOKIE), touch=False)
    if session is not None:
        revoked = await container.grants.revoke_for_session(session.authentication.sid, "logout")
        await end_session(container.provider, session)
        container.audit.record("accounts:session:ended", actor=session.authentication.account_id,
                               context="account", grants=len(revoked))
    response = RedirectResponse(LOGIN, status_code=303, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
