"""The accounts domain on the web: password sign-in (one method among the others), the /account pages, sign-out.

Routes:
    POST /interaction/{uid}/login   the password form of the sign-in page
    GET  /account                   the signed-in person's account: each domain adds its section (keys, …)
    GET  /account/login             sign in outside an authorization request (password; other methods add theirs)
    POST /account/login
    POST /account/logout
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from idp.accounts.models import Account
from idp.accounts.password_signin import PasswordRefused, check_password
from idp.container import Container
from idp.domains import Domain
from idp.http.interaction import current_interaction, expired_page, login_page
from idp.http.oauth_io import NO_STORE, SESSION_COOKIE, client_ip
from idp.http.pages import check_csrf, container_of, form_expired, gettext, locale_of, render
from idp.oidc import assurance, paths
from idp.oidc.assurance import EIDAS1, EIDAS2
from idp.oidc.sessions import Session, end_session, load_session
from idp.signin.finish import finish_sign_in
from idp.signin.methods import AUDIENCES, CITIZEN, SignInMethod, SignInRequest

__all__ = ["ACCOUNT", "LOGIN", "account_login_redirect", "domain", "render_account_page", "signed_in"]

ACCOUNT, LOGIN, LOGOUT = "/account", "/account/login", "/account/logout"

PASSWORD = SignInMethod(
    name="password", template="accounts/password_method.html", max_acr=EIDAS1, step_up_to=EIDAS2,
    audiences=frozenset(AUDIENCES), primary_for=frozenset({CITIZEN}), order=20)


def domain(container: Container) -> Domain:
    return Domain(
        name="accounts",
        routes=[
            Route(paths.INTERACTION + "/login", interaction_login, methods=["POST"]),
            Route(ACCOUNT, account_page),
            Route(LOGIN, login_form, methods=["GET"]),
            Route(LOGIN, login_submit, methods=["POST"]),
            Route(LOGOUT, logout, methods=["POST"]),
        ],
        sign_in_methods=(PASSWORD,),
    )


# --- the sign-in page of an authorization request --------------------------------------------------------------

async def interaction_login(request: Request) -> Response:
    current = await current_interaction(request)
    if current is None:
        return expired_page(request)
    form = await request.form()
    if not await check_csrf(request, form, pre_session=True):
        return form_expired(request, current.locale)
    if PASSWORD.offer(SignInRequest(current.client, current.interaction.request)) is None:
        # The page did not offer a password for this request (a professional-only client, or an acr a password
        # cannot reach even with a security key after it): a posted one is refused before it is even checked.
        current.container.audit.record("accounts:login:method_not_offered", client_id=current.client.client_id,
                                       ip=client_ip(request))
        return login_page(request, current.interaction, current.client, current.locale, status=400, error=gettext(
            current.locale, "{client} asks for a stronger sign-in than a password: use your card or security key.",
            client=current.client.name))
    checked = await check_password(request, form, current.locale, client_id=current.client.client_id)
    if isinstance(checked, PasswordRefused):
        return with_retry_after(login_page(request, current.interaction, current.client, current.locale,
                                           error=checked.message, status=checked.status, username=checked.username),
                                checked)
    return await finish_sign_in(request, checked.id, assurance.password(), interaction=current.interaction)


def with_retry_after(response: Response, refused: PasswordRefused) -> Response:
    """503 while the hashing pool is full: say when to try again (RFC 9110 §10.2.3)."""
    if refused.retry_after:
        response.headers["retry-after"] = str(refused.retry_after)
    return response


# --- /account ------------------------------------------------------------------------------------------------------

async def signed_in(request: Request) -> tuple[Session, Account] | None:
    """The SSO session of this browser and its account, if both are live."""
    container = container_of(request)
    session = await load_session(container.provider, request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    account = await container.accounts.get(session.authentication.account_id)
    if account is None or account.status != "active":
        return None
    request.state.acting = session.acting_for
    return session, account


def account_login_redirect(next_page: str) -> Response:
    return RedirectResponse(f"{LOGIN}?next={next_page}", status_code=303, headers=NO_STORE)


async def render_account_page(request: Request, account: Account, *, error: str | None = None,
                              error_for: str | None = None, status: int = 200) -> Response:
    container = container_of(request)
    locale = locale_of(request)
    sections = []
    for section in sorted(container.account_sections, key=lambda s: s.order):
        sections.append({"template": section.template, **(await section.load(request, account))})
    notice = next((s["notice"] for s in sections if s.get("notice")), None)
    return render(request, "accounts/account.html", {
        "account": account, "sections": sections, "notice": notice, "error": error, "error_for": error_for,
    }, status=status, locale=locale)


async def account_page(request: Request) -> Response:
    signed = await signed_in(request)
    if signed is None:
        return account_login_redirect(ACCOUNT)
    return await render_account_page(request, signed[1])


# --- sign-in and sign-out outside an authorization request ---------------------------------------------------------

def next_page_of(value: str | None) -> str:
    """Where /account/login may send the person back to: our own /account pages only (no open redirect)."""
    if value and value.startswith(ACCOUNT) and len(value) <= 100 and value.replace("/", "").replace("-", "").isalnum():
        return value
    return ACCOUNT


def _login(request: Request, *, error: str | None = None, status: int = 200, username: str = "",
           next_page: str = ACCOUNT) -> Response:
    methods = [m for m in container_of(request).sign_in_methods if m.context.get("account_template")]
    return render(request, "accounts/login.html", {"next": next_page, "error": error, "username": username,
                                                   "methods": methods}, status=status)


async def login_form(request: Request) -> Response:
    next_page = next_page_of(request.query_params.get("next"))
    if await signed_in(request) is not None and not request.query_params.get("again"):
        return RedirectResponse(next_page, status_code=303, headers=NO_STORE)
    return _login(request, next_page=next_page)


async def login_submit(request: Request) -> Response:
    locale = locale_of(request)
    form = await request.form()
    if not await check_csrf(request, form, pre_session=True):
        return form_expired(request, locale)
    next_page = next_page_of(str(form.get("next") or ""))
    checked = await check_password(request, form, locale, context="account")
    if isinstance(checked, PasswordRefused):
        return with_retry_after(_login(request, error=checked.message, status=checked.status,
                                       username=checked.username, next_page=next_page), checked)
    return await finish_sign_in(request, checked.id, assurance.password(), next_page=next_page)


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
