"""The pages of an authorization request in progress (/interaction/{uid}): sign in, step up, consent.

`show` walks the steps in order; each sign-in method's own routes end in `idp.signin.finish.finish_sign_in`,
which sends the browser back here. Each POST checks CSRF and answers 303 (never 302/307 after a POST). The
interaction is only reachable by the browser holding its binding cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from idp.container import Container
from idp.http.middleware import DEFAULT_CSP
from idp.http.oauth_io import redirect_response
from idp.http.pages import check_csrf, container_of, error_page, form_expired, gettext, locale_of, render
from idp.oidc import errors, paths
from idp.oidc.assurance import acr_rank
from idp.oidc.authorize import AuthorizeFailure, error_redirect, issue_code, needs_consent, required_acr_rank
from idp.oidc.delegated import delegable_part, rights_for
from idp.oidc.interfaces import DelegationRefused
from idp.oidc.models import Authentication, Client
from idp.oidc.sessions import Interaction, finish_interaction, load_interaction
from idp.signin.methods import SignInRequest, plan_sign_in

SCOPE_LABELS = {
    "openid": "Know that it is you (a pseudonymous identifier for this site)",
    "profile": "Your name, birth date and gender",
    "email": "Your email address",
    "offline_access": "Stay connected when you are away (until you revoke it)",
    "address": "Your postal address",
    "identite_pivot": "Your identity: names, birth date, sex, place and country of birth",
    "health_insurance": "Your health insurance number and identity status",
    "scope_all": "Your professional identity: national identifier, professions, places of practice",
    "rpps": "Your RPPS professional identifier",
    "identity": "Your professional identity (names and national identifier)",
}


async def load_current(request: Request) -> tuple[Container, Interaction | None]:
    container = container_of(request)
    uid = request.path_params["uid"]
    interaction = await load_interaction(container.provider, uid, request.cookies.get(f"mandat_ia_{uid}"))
    return container, interaction


@dataclass(frozen=True, slots=True)
class Current:
    """The interaction this browser is in, its client and the language of its pages."""

    container: Container
    interaction: Interaction
    client: Client
    locale: str


async def current_interaction(request: Request) -> Current | None:
    """The interaction of /interaction/{uid}/…, if it is open, bound to this browser, and its client exists."""
    container, interaction = await load_current(request)
    if interaction is None:
        return None
    client = await container.clients.get(interaction.request.client_id)
    if client is None:
        return None
    return Current(container, interaction, client, locale_of(request, interaction.request.ui_locales))


def expired_page(request: Request) -> Response:
    locale = locale_of(request)
    return error_page(request, gettext(locale, "This sign-in page has expired"),
                      gettext(locale, "Sign-in pages stay open for 15 minutes, in the browser where you opened them."),
                      next_step=gettext(locale, "Go back to the site you came from and choose sign in again."),
                      status=400, locale=locale)


def _authentication(interaction: Interaction) -> Authentication | None:
    if interaction.account_id is None or interaction.fresh_login_required:
        return None
    assert interaction.acr is not None and interaction.auth_time is not None and interaction.sid is not None
    return Authentication(interaction.account_id, interaction.auth_time, interaction.acr, interaction.amr,
                          interaction.sid)


def _scope_items(locale: str, client: Client, scopes: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"scope": s, "label": gettext(locale, SCOPE_LABELS.get(s, s))} for s in scopes]


async def show(request: Request) -> Response:
    """The next step of the interaction: sign in, step up, consent, or back to the client."""
    current = await current_interaction(request)
    if current is None:
        return expired_page(request)
    container, interaction, client, locale = current.container, current.interaction, current.client, current.locale
    auth = _authentication(interaction)
    if auth is None:
        return login_page(request, interaction, client, locale)
    if acr_rank(auth.acr) < required_acr_rank(interaction.request):
        # Step-up: a method the person holds (a security key, ...) may still raise the level; each domain's
        # offers are asked in turn.
        for offer in container.step_ups:
            page: Response | None = await offer(request, interaction, client, auth, locale)
            if page is not None:
                return page
        # Nothing can: the flow can only end in unmet_authentication_requirements. Answer now rather than ask
        # for (and remember) a consent the client will never use.
        return await complete(request, container, interaction, client, auth)
    # Steps the domains add before consent ("act as"): each shows its page, or lets the flow go on.
    for step in container.interaction_steps:
        page = await step(request, interaction, client, auth, locale)
        if page is not None:
            return page
    if await needs_consent(container.provider, client, interaction.request, auth.account_id):
        return allow_form_redirects(render(request, "consent.html", {
            "uid": interaction.uid, "client": client, "acting_principal": interaction.extra.get("acting_name")
            if interaction.extra else None,
            "scopes": _scope_items(locale, client, interaction.request.scopes)}, locale=locale), interaction)
    return await complete(request, container, interaction, client, auth)


def login_page(request: Request, interaction: Interaction, client: Client, locale: str, *,
               error: str | None = None, status: int = 200, username: str | None = None) -> Response:
    """The sign-in page, planned for this client's audience and the requested acr (idp/signin/methods.py)."""
    container = container_of(request)
    plan = plan_sign_in(container.sign_in_methods, container.sign_in_help, SignInRequest(client, interaction.request))
    return allow_form_redirects(render(request, "login.html", {
        "uid": interaction.uid, "client": client, "error": error, "interaction": interaction, "plan": plan,
        "username": username if username is not None else (interaction.request.login_hint or ""),
    }, status=status, locale=locale), interaction)


def allow_form_redirects(response: Response, interaction: Interaction) -> Response:
    """The forms of interaction pages (login, consent, cancel) end in a 303 to the client's redirect_uri, and CSP
    `form-action` also governs the redirects a submission follows (Chromium blocks them): allow that origin."""
    target = urlsplit(interaction.request.redirect_uri)
    # A native app's private-use scheme (com.example.app:/cb) has no host: allow the scheme itself.
    source = f"{target.scheme}://{target.netloc}" if target.netloc else f"{target.scheme}:"
    response.headers["content-security-policy"] = DEFAULT_CSP.replace("form-action 'self'",
                                                                      f"form-action 'self' {source}")
    return response


async def complete(request: Request, container: Container, interaction: Interaction, client: Client,
                   auth: Authentication) -> Response:
    provider = container.provider
    try:
        delegated = None
        if interaction.acting_for is not None:
            # Asked again now: the delegation may have been revoked while the person was on the consent page.
            try:
                delegated = await rights_for(provider, interaction.acting_for, auth.account_id,
                                             delegable_part(interaction.request.scopes))
            except DelegationRefused as refusal:
                req = interaction.request
                raise AuthorizeFailure(errors.AccessDenied(refusal.description), redirect=error_redirect(
                    provider, req.redirect_uri, req.response_mode, req.state,
                    errors.AccessDenied(f"the delegation no longer allows this: {refusal.description}"))) from None
        redirect = await issue_code(provider, client, interaction.request, auth, delegated=delegated)
    except AuthorizeFailure as failure:
        assert failure.redirect is not None
        redirect = failure.redirect
    await finish_interaction(container.provider, interaction.uid)
    response = redirect_response(redirect, status=303)
    response.delete_cookie(f"mandat_ia_{interaction.uid}", path=paths.interaction(interaction.uid))
    return response


async def consent(request: Request) -> Response:
    current = await current_interaction(request)
    auth = _authentication(current.interaction) if current else None
    if current is None or auth is None:
        return expired_page(request)
    container, interaction, client, locale = current.container, current.interaction, current.client, current.locale
    form = await request.form()
    if not await check_csrf(request, form):
        return form_expired(request, locale)
    if form.get("decision") != "allow":
        container.audit.record("oidc:consent:denied", actor=auth.account_id, client_id=client.client_id)
        await finish_interaction(container.provider, interaction.uid)
        req = interaction.request
        return redirect_response(error_redirect(container.provider, req.redirect_uri, req.response_mode, req.state,
                                                errors.AccessDenied("the person declined")), status=303)
    await container.accounts.remember(auth.account_id, client.client_id, interaction.request.scopes)
    container.audit.record("oidc:consent:granted", actor=auth.account_id, client_id=client.client_id,
                           scopes=" ".join(interaction.request.scopes))
    return await complete(request, container, interaction, client, auth)


async def cancel(request: Request) -> Response:
    current = await current_interaction(request)
    if current is None:
        return expired_page(request)
    container, interaction = current.container, current.interaction
    form = await request.form()
    if not await check_csrf(request, form):
        return form_expired(request, current.locale)
    await finish_interaction(container.provider, interaction.uid)
    req = interaction.request
    return redirect_response(error_redirect(container.provider, req.redirect_uri, req.response_mode, req.state,
                                            errors.AccessDenied("the person cancelled sign-in")), status=303)


