"""RP-initiated logout pages (/session/end): confirm, end the SSO session, revoke session-bound grants."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.http.oauth_io import NO_STORE, SESSION_COOKIE, read_request
from idp.http.pages import check_csrf, container_of, error_page, form_expired, gettext, locale_of, render
from idp.oidc import errors
from idp.oidc.end_session import LogoutRequest, validate_logout
from idp.oidc.models import OidcRequest
from idp.oidc.sessions import end_session, load_session


async def _do_logout(request: Request, logout: LogoutRequest) -> Response:
    container = container_of(request)
    session = await load_session(container.provider, request.cookies.get(SESSION_COOKIE), touch=False)
    if session is not None:
        sid = session.authentication.sid
        revoked = await container.grants.revoke_for_session(sid, "logout")
        await end_session(container.provider, session)
        container.audit.record("accounts:session:ended", actor=session.authentication.account_id,
                               client_id=logout.client.client_id if logout.client else None, grants=len(revoked))
    if logout.post_logout_redirect_uri:
        params = {"state": logout.state} if logout.state else {}
        target = logout.post_logout_redirect_uri
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        response: Response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    else:
        response = render(request, "logged_out.html", {})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def end_session_endpoint(request: Request) -> Response:
    container = container_of(request)
    locale = locale_of(request)
    try:
        oidc_request = await read_request(request)
        if oidc_request.method == "POST" and "confirm" in oidc_request.params:
            form = await request.form()
            if not await check_csrf(request, form):
                return form_expired(request, locale)
            params = {k: v for k, v in oidc_request.params.items() if k not in {"confirm", "csrf_token"}}
            oidc_request = OidcRequest("POST", params, oidc_request.headers, oidc_request.client_ip)
            logout = await validate_logout(container.provider, oidc_request)
            return await _do_logout(request, logout)
        logout = await validate_logout(container.provider, oidc_request)
    except errors.OAuthError as exc:
        return error_page(request, gettext(locale, "This sign-out link is not valid"), exc.description,
                          next_step=gettext(locale, "Close this window, or go back to the site you came from."),
                          locale=locale)
    session = await load_session(container.provider, request.cookies.get(SESSION_COOKIE), touch=False)
    if session is not None and logout.hint_sid is not None and logout.hint_sid == session.authentication.sid:
        # The client proved it holds this session's ID token: no confirmation needed.
        return await _do_logout(request, logout)
    hidden = {k: v for k, v in oidc_request.params.items() if k != "confirm"}
    return render(request, "logout.html", {"params": hidden, "client": logout.client,
                                           "signed_in": session is not None}, locale=locale)
