"""A relying portal that signs people in with Mandat, using Authlib's Starlette client.

Copy this file, register the portal (see the integration guide), and run it:

    pip install authlib httpx starlette itsdangerous uvicorn
    export MANDAT_ISSUER=https://idp.example PORTAL_URL=https://portal.example \\
           PORTAL_CLIENT_ID=my-portal PORTAL_CLIENT_SECRET='the secret client add printed'
    uvicorn portal_example:from_environment --factory --port 8001

What it does: authorization code flow with PKCE (S256) and a nonce, the ID token checked by Authlib against the
keys published at /jwks, userinfo, the assurance level (`acr`, with `?acr=eidas2` asking for more), who acts for
whom when the person acts under a delegation, the errors Mandat sends back, and RP-initiated logout.
tests/e2e/test_docs_example.py runs this very file against a live Mandat.
"""

from __future__ import annotations

import html
import json
import os
import secrets
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

ACR_LEVELS = ("eidas1", "eidas2", "eidas3")
# The names of who signed in, in the ID token itself: when the person acts for someone, userinfo (like the access
# token) is about the person acted for, so the ID token is where the portal learns who is at the keyboard.
ID_TOKEN_CLAIMS = json.dumps({"id_token": {"given_name": None, "family_name": None}})


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{html.escape(title)}</title>'
                        f"<h1>{html.escape(title)}</h1>{body}</html>", status_code=status)


def create_app(*, issuer: str, client_id: str, client_secret: str, portal_url: str,
               scope: str = "openid profile", session_secret: str | None = None) -> Starlette:
    oauth = OAuth()
    oauth.register(
        "mandat",
        client_id=client_id,
        client_secret=client_secret,  # sent with HTTP Basic (client_secret_basic), Mandat's default
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": scope, "code_challenge_method": "S256"},  # PKCE is required for every client
    )
    mandat: Any = oauth.create_client("mandat")

    async def home(request: Request) -> Response:
        person = request.session.get("person")
        if person is None:
            return page("Portal", '<p><a id="login" href="/login">Sign in with Mandat</a></p>')
        acting = ""
        if person.get("acting_for"):
            acting = (f'<p id="acting">Acting for {html.escape(person["acting_for"])} '
                      f'as {html.escape(person["kind"])}</p>')
        return page("Portal", f'<p id="who">Signed in: {html.escape(person["name"])}</p>'
                              f'<p id="acr">Assurance: {html.escape(person["acr"])} '
                              f'({html.escape(" ".join(person["amr"]))})</p>{acting}'
                              '<p><a id="logout" href="/logout">Sign out</a></p>')

    async def login(request: Request) -> Response:
        extra: dict[str, str] = {}
        if request.query_params.get("acr") in ACR_LEVELS:
            extra["acr_values"] = request.query_params["acr"]  # the lowest level this page accepts
        # Authlib keeps the state, the nonce and the PKCE verifier in the session for the callback.
        response: Response = await mandat.authorize_redirect(request, f"{portal_url}/callback",
                                                             nonce=secrets.token_urlsafe(16),
                                                             claims=ID_TOKEN_CLAIMS, **extra)
        return response

    async def callback(request: Request) -> Response:
        error = request.query_params.get("error")
        if error is not None:
            # access_denied (the person declined or cancelled), unmet_authentication_requirements (the sign-in
            # did not reach acr_values), login_required / consent_required (prompt=none), ...
            return page("Sign-in refused", f'<p id="error">{html.escape(error)}: '
                        f'{html.escape(request.query_params.get("error_description", ""))}</p>', 400)
        try:
            # Checks state, swaps the code (with the PKCE verifier), verifies the ID token (signature, iss, aud,
            # exp, nonce).
            token = await mandat.authorize_access_token(request)
        except OAuthError as exc:
            return page("Sign-in failed", f'<p id="error">{html.escape(exc.error or "")}: '
                        f'{html.escape(exc.description or "")}</p>', 400)
        id_claims = dict(token["userinfo"])  # the verified ID token's claims
        userinfo = dict(await mandat.userinfo(token=token))
        person: dict[str, Any] = {
            "name": " ".join(filter(None, (id_claims.get("given_name"), id_claims.get("family_name"))))
            or id_claims["sub"],
            "acr": id_claims["acr"], "amr": id_claims["amr"],
            "id_token": token["id_token"],  # for logout
        }
        delegation = id_claims.get("delegation")
        if delegation is not None:
            # The person acts for someone: the access token and userinfo are the principal's (`sub`), `act` names
            # the person acting; the ID token stays about who signed in and says for whom in `delegation`.
            principal = delegation["principal"]
            person["acting_for"] = " ".join(filter(None, (principal.get("given_name"), principal.get("family_name"))))
            person["kind"] = delegation["kind"]
            person["act"] = userinfo.get("act")  # {"sub": <the person acting, as this portal knows them>}
        request.session["person"] = person
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        person = request.session.pop("person", None) or {}
        metadata = await mandat.load_server_metadata()
        params = {"post_logout_redirect_uri": f"{portal_url}/", "client_id": client_id}
        if person.get("id_token"):
            params["id_token_hint"] = person["id_token"]  # lets Mandat end the session without asking
        return RedirectResponse(f"{metadata['end_session_endpoint']}?{urlencode(params)}", status_code=303)

    app = Starlette(routes=[Route("/", home), Route("/login", login), Route("/callback", callback),
                            Route("/logout", logout)])
    app.add_middleware(SessionMiddleware, secret_key=session_secret or secrets.token_urlsafe(32),
                       https_only=portal_url.startswith("https://"), same_site="lax")
    return app


def from_environment() -> Starlette:
    return create_app(issuer=os.environ["MANDAT_ISSUER"], client_id=os.environ["PORTAL_CLIENT_ID"],
                      client_secret=os.environ["PORTAL_CLIENT_SECRET"], portal_url=os.environ["PORTAL_URL"],
                      scope=os.environ.get("PORTAL_SCOPE", "openid profile"),
                      session_secret=os.environ.get("PORTAL_SESSION_SECRET"))
