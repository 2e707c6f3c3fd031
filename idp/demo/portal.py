"""The demo relying portal: a small Starlette app using Authlib's Starlette client, as a real RP would.

It signs in through Mandat (code + PKCE S256), then shows the ID token claims, the access token claims and
the userinfo response, and offers RP-initiated logout.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;font-size:18px;max-width:48rem;margin:auto;padding:1rem;line-height:1.5}}
pre{{background:#f4f4f4;padding:.5rem;white-space:pre-wrap;word-break:break-all}}
a.button,button{{display:inline-block;font-size:1.1rem;padding:.7rem 1.2rem;background:#0b4f9c;color:#fff;
border:none;border-radius:.3rem;text-decoration:none;margin:.3rem 0;min-height:48px}}</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), body=body), status_code=status)


def _decode_unverified(jwt: str) -> dict[str, Any]:
    """For display only: the portal is not the access token's audience, so it just shows the payload."""
    part = jwt.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


PATIENT_HOME = ('<p>Ce portail de démonstration se connecte avec Mandat.</p>'
                '<p><a class="button" href="/login">Se connecter avec Mandat</a></p>'
                '<p><a href="/login?acr=eidas2">Se connecter (niveau eidas2)</a> · '
                '<a href="/login?acr=eidas3">Se connecter (niveau eidas3)</a></p>'
                '<p><a href="/pro/">Espace professionnel</a> (professionnels de santé : carte CPS ou clé de '
                'sécurité)</p>')
PRO_HOME = ('<p>Espace des professionnels de santé : connexion par carte CPS ou clé de sécurité.</p>'
            '<p><a class="button" href="/pro/login?scope=openid+profile+scope_all">Se connecter avec Mandat</a></p>'
            '<p><a href="/pro/login?acr=eidas3&amp;scope=openid+profile+scope_all">Se connecter (niveau eidas3)</a>'
            '</p><p><a href="/">Portail patient</a></p>')


def create_portals(*, issuer: str, portal_url: str, patient: tuple[str, str], professional: tuple[str, str] | None
                   ) -> Starlette:
    """The demo patient portal (a `citizen` client) at /, and the professional space (a `professional` client) at
    /pro/ when its client exists: one process, two relying parties, so both sign-in pages can be tried."""
    app = create_portal(issuer=issuer, client_id=patient[0], client_secret=patient[1], portal_url=portal_url)
    if professional is not None:
        pro = create_portal(issuer=issuer, client_id=professional[0], client_secret=professional[1],
                            portal_url=portal_url, base="/pro", title="Espace professionnel (démo)", home_html=PRO_HOME,
                            scope="openid profile scope_all")
        app.router.routes.insert(0, Mount("/pro", app=pro))
    return app


def create_portal(*, issuer: str, client_id: str, client_secret: str, portal_url: str,
                  scope: str = "openid profile email", base: str = "", title: str = "Portail patient (démo)",
                  home_html: str = PATIENT_HOME) -> Starlette:
    oauth = OAuth()
    oauth.register("mandat", client_id=client_id, client_secret=client_secret,
                   server_metadata_url=f"{issuer}/.well-known/openid-configuration",
                   client_kwargs={"scope": scope, "code_challenge_method": "S256"})
    mandat: Any = oauth.create_client("mandat")
    # Signed-in state stays in this process, the cookie only names it: tokens plus professional (PSC) claims
    # outgrow the 4 KB a browser keeps in one cookie.
    signed_in: dict[str, dict[str, Any]] = {}

    def state_of(request: Request) -> dict[str, Any]:
        return signed_in.get(request.session.get("sid", ""), {})

    async def home(request: Request) -> Response:
        if state_of(request).get("tokens"):
            return RedirectResponse(f"{base}/claims", status_code=303)
        return _page(title, home_html)

    async def login(request: Request) -> Response:
        extra: dict[str, str] = {}
        acr = request.query_params.get("acr")
        if acr in {"eidas1", "eidas2", "eidas3"}:
            extra["acr_values"] = acr
        claims = request.query_params.get("claims")
        if claims:
            extra["claims"] = claims
        scope_param = request.query_params.get("scope")
        if scope_param:
            extra["scope"] = scope_param
        response: Response = await mandat.authorize_redirect(request, f"{portal_url}{base}/callback",
                                                             nonce=secrets.token_urlsafe(16), **extra)
        return response

    async def callback(request: Request) -> Response:
        if "error" in request.query_params:
            return _page("Connexion refusée", f"<p>{html.escape(request.query_params['error'])}: "
                         f"{html.escape(request.query_params.get('error_description', ''))}</p>"
                         '<p><a href="/">Retour</a></p>', 400)
        try:
            token = await mandat.authorize_access_token(request)
        except OAuthError as exc:
            return _page("Connexion impossible", f"<p>{html.escape(str(exc))}</p><p><a href='/'>Retour</a></p>", 400)
        userinfo = await mandat.userinfo(token=token)
        sid = secrets.token_urlsafe(16)
        signed_in[sid] = {"tokens": {"id_token": token.get("id_token"), "access_token": token["access_token"]},
                          "id_claims": dict(token.get("userinfo") or {}), "userinfo": dict(userinfo)}
        request.session["sid"] = sid
        return RedirectResponse(f"{base}/claims", status_code=303)

    async def claims(request: Request) -> Response:
        state = state_of(request)
        tokens = state.get("tokens")
        if not tokens:
            return RedirectResponse(f"{base}/", status_code=303)
        def block(title: str, value: Any, ident: str) -> str:
            return (f'<h2>{title}</h2><pre id="{ident}">'
                    f'{html.escape(json.dumps(value, indent=2, ensure_ascii=False))}</pre>')
        body = (block("Jeton d'identité (ID token)", state.get("id_claims"), "id-token-claims")
                + block("Jeton d'accès (access token)", _decode_unverified(tokens["access_token"]),
                        "access-token-claims")
                + block("Userinfo", state.get("userinfo"), "userinfo")
                + f'<p><a class="button" href="{base}/logout">Se déconnecter</a></p>')
        return _page("Vous êtes connecté", body)

    async def logout(request: Request) -> Response:
        tokens = signed_in.pop(request.session.get("sid", ""), {}).get("tokens") or {}
        request.session.clear()
        params = {"post_logout_redirect_uri": f"{portal_url}{base}/", "client_id": client_id}
        if tokens.get("id_token"):
            params["id_token_hint"] = tokens["id_token"]
        return RedirectResponse(f"{issuer}/session/end?{urlencode(params)}", status_code=303)

    app = Starlette(routes=[Route("/", home), Route("/login", login), Route("/callback", callback),
                            Route("/claims", claims), Route("/logout", logout)])
    app.add_middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32),
                       session_cookie="pro_portal_session" if base else "portal_session",
                       same_site="lax", https_only=portal_url.startswith("https"))
    return app
