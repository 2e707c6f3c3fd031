"""Acting for someone: the "act as" step of an authorization request, and the way back to oneself.

Routes:
    POST /interaction/{uid}/act     the choice on the "act as" page: `myself`, or a delegation id offered
    POST /account/acting/stop       "back to myself" from the banner every IdP page shows while acting

The step (`act_as_step`, an interaction step of the delegation domain) runs after sign-in and step-up, before
consent. It asks only when it must (`idp.oidc.authorize.acting_without_page` says the same for a live session):
- `on_behalf_of` names a principal the person may act for: chosen without a page (unless
  `prompt=select_account`); one they may not: the client gets `access_denied` saying so;
- some delegation fits the requested scopes, or `prompt=select_account`: the page offers "myself" and each
  principal, with what the delegation allows and until when;
- otherwise nothing changes: no extra page.
The choice is re-checked when the code is issued and at every token use (idp/oidc/delegated.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from babel.dates import format_date
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from idp.accounts.models import Account
from idp.http.interaction import allow_form_redirects, current_interaction, expired_page
from idp.http.oauth_io import NO_STORE, SESSION_COOKIE, redirect_response
from idp.http.pages import check_csrf, container_of, form_expired, gettext, locale_of, render
from idp.oidc import errors, paths
from idp.oidc.authorize import error_redirect
from idp.oidc.delegated import delegable_part, fitting_offers, offer_for
from idp.oidc.models import Authentication, Client, Delegated
from idp.oidc.sessions import Acting, Interaction, finish_interaction, load_session, save_interaction, set_acting

__all__ = ["STOP", "act_as_step", "routes"]

STOP = "/account/acting/stop"
MYSELF = "myself"
KIND_LABELS = {"assistant": "Assistant", "guardian": "Parent or guardian", "proxy": "Proxy"}
# What acting for someone lets the person do, in their words (a scope without a label shows its name).
ACT_LABELS = {
    "profile": "see their name and details",
    "mssante.read": "read their secure messages",
    "mssante.send": "send secure messages for them",
    "appointments.manage": "manage their appointments",
    "dmp.read": "read their shared medical record",
}


def routes() -> list[BaseRoute]:
    return [
        Route(paths.INTERACTION + "/act", choose, methods=["POST"]),
        Route(STOP, stop_acting, methods=["POST"]),
    ]


def _name(account: Account | None) -> str:
    return account.display_name if account is not None else "?"


# --- the step ----------------------------------------------------------------------------------------------

async def act_as_step(request: Request, interaction: Interaction, client: Client, auth: Authentication,
                      locale: str) -> Response | None:
    if interaction.acting_chosen:
        return None
    container = container_of(request)
    provider = container.provider
    req = interaction.request
    offers = await fitting_offers(provider, req, auth.account_id)
    forced = "select_account" in req.prompt
    preselected = None
    if req.on_behalf_of is not None:
        preselected = offer_for(provider, client, offers, req.on_behalf_of)
        if preselected is None:
            await finish_interaction(provider, interaction.uid)
            return redirect_response(error_redirect(
                provider, req.redirect_uri, req.response_mode, req.state,
                errors.AccessDenied("on_behalf_of: no active delegation lets this person act for that principal "
                                    "with the requested scopes")), status=303)
        if not forced:
            await _choose(request, interaction, client, auth, preselected)
            return None
    if not offers and not forced:
        return None
    return await act_as_page(request, interaction, client, auth, locale, offers, preselected)


async def act_as_page(request: Request, interaction: Interaction, client: Client, auth: Authentication, locale: str,
                      offers: list[Delegated], preselected: Delegated | None, *, error: str | None = None,
                      status: int = 200) -> Response:
    container = container_of(request)
    me = await container.accounts.get(auth.account_id)
    choices = []
    for offer in offers:
        principal = await container.accounts.get(offer.principal_id)
        choices.append({
            "id": offer.delegation_id, "name": _name(principal), "kind": KIND_LABELS.get(offer.kind, offer.kind),
            "scopes": [gettext(locale, ACT_LABELS.get(s, s))
                       for s in sorted(delegable_part(offer.scopes & frozenset(interaction.request.scopes)))],
            "until": format_date(datetime.fromtimestamp(offer.until, UTC).date(), format="long", locale=locale),
        })
    selected = preselected.delegation_id if preselected is not None else MYSELF
    return allow_form_redirects(render(request, "delegation/act_as.html", {
        "uid": interaction.uid, "client": client, "me": _name(me), "choices": choices, "selected": selected,
        "myself": MYSELF, "error": error,
    }, status=status, locale=locale), interaction)


async def _choose(request: Request, interaction: Interaction, client: Client, auth: Authentication,
                  offer: Delegated | None) -> None:
    """Remember the choice on the interaction (the code will carry it) and on the session (the banner)."""
    container = container_of(request)
    provider = container.provider
    interaction.acting_for = offer.delegation_id if offer is not None else None
    interaction.acting_chosen = True
    name = None
    if offer is not None:
        name = _name(await container.accounts.get(offer.principal_id))
        container.audit.record("delegation:acting:chosen", actor=auth.account_id, subject=offer.principal_id,
                               client_id=client.client_id, delegation_id=offer.delegation_id)
    interaction.extra = {**(interaction.extra or {}), "acting_name": name}
    await save_interaction(provider, interaction)
    session = await load_session(provider, request.cookies.get(SESSION_COOKIE), touch=False)
    if session is not None and session.authentication.sid == auth.sid:
        await set_acting(provider, session, Acting(offer.delegation_id, offer.principal_id, name or "")
                         if offer is not None else None)


# --- routes ------------------------------------------------------------------------------------------------

async def choose(request: Request) -> Response:
    current = await current_interaction(request)
    if current is None or current.interaction.account_id is None or current.interaction.fresh_login_required:
        return expired_page(request)
    container, interaction, client, locale = current.container, current.interaction, current.client, current.locale
    form = await request.form()
    if not await check_csrf(request, form):
        return form_expired(request, locale)
    assert interaction.auth_time is not None and interaction.acr is not None and interaction.sid is not None
    assert interaction.account_id is not None
    auth = Authentication(interaction.account_id, interaction.auth_time, interaction.acr, interaction.amr,
                          interaction.sid)
    picked = str(form.get("acting_for") or "")
    if picked == MYSELF:
        await _choose(request, interaction, client, auth, None)
    else:
        offers = await fitting_offers(container.provider, interaction.request, auth.account_id)
        offer = next((o for o in offers if o.delegation_id == picked), None)
        if offer is None:
            # Not offered (any more): say so and ask again; nothing was chosen.
            return await act_as_page(
                request, interaction, client, auth, locale, offers, None, status=400,
                error=gettext(locale, "This choice is no longer available. Choose again."))
        await _choose(request, interaction, client, auth, offer)
    return RedirectResponse(paths.interaction(interaction.uid), status_code=303, headers=NO_STORE)


async def stop_acting(request: Request) -> Response:
    """Back to oneself: the session stops acting for anyone. Pages then show no banner."""
    container = container_of(request)
    form = await request.form()
    wanted = str(form.get("next") or "/account")
    if not await check_csrf(request, form):
        return form_expired(request, locale_of(request))
    session = await load_session(container.provider, request.cookies.get(SESSION_COOKIE), touch=False)
    if session is not None and session.acting_for is not None:
        container.audit.record("delegation:acting:stopped", actor=session.authentication.account_id,
                               subject=session.acting_for.principal_id,
                               delegation_id=session.acting_for.delegation_id)
        await set_acting(container.provider, session, None)
    # Our own pages only: a path, never another origin (`//host`, `/\\host`).
    local = wanted.startswith("/") and not wanted.startswith(("//", "/\\")) and len(wanted) < 500
    return RedirectResponse(wanted if local else "/account", status_code=303, headers=NO_STORE)
