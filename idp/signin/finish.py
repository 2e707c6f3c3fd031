"""`finish_sign_in`: where every successful sign-in ends, whatever the method.

Password, passkey, card, activation and recovery all come here with the account and the `Assurance` they proved
(from the one table in `idp.oidc.assurance`). This is the only place that opens an SSO session:
- the session this browser held before is ended (a browser holds one SSO session; a step-up or an activation
  replaces the weaker one rather than leaving it alive beside the new one);
- the new session records acr, amr and the level at which it may bind new authenticators;
- inside an authorization request, the interaction learns who signed in and how, and the browser goes back to it
  (where the "act as" step, then consent, follow); outside one, to `next_page`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse

from idp.http.oauth_io import NO_STORE, SESSION_COOKIE
from idp.http.pages import container_of, set_session_cookie
from idp.oidc import paths
from idp.oidc.assurance import Assurance
from idp.oidc.sessions import Interaction, create_session, end_session, load_session, save_interaction

__all__ = ["finish_sign_in"]


async def finish_sign_in(request: Request, account_id: str, assurance: Assurance, *,
                         interaction: Interaction | None = None, next_page: str = "/account") -> RedirectResponse:
    container = container_of(request)
    provider = container.provider
    previous = await load_session(provider, request.cookies.get(SESSION_COOKIE), touch=False)
    if previous is not None:
        await end_session(provider, previous)
    session = await create_session(provider, account_id, assurance)
    target = next_page
    if interaction is not None:
        auth = session.authentication
        interaction.account_id, interaction.acr, interaction.amr = account_id, auth.acr, auth.amr
        interaction.auth_time, interaction.sid, interaction.fresh_login_required = auth.auth_time, auth.sid, False
        # A new sign-in means a new choice of whom to act for.
        interaction.acting_for, interaction.acting_chosen = None, False
        await save_interaction(provider, interaction)
        target = paths.interaction(interaction.uid)
    response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    set_session_cookie(request, response, session.token)
    return response
