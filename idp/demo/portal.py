"""The demo relying portal: a small Starlette app using Authlib's Starlette client, as a real RP would.

It signs in through Mandat (code + PKCE S256), then shows the ID token claims, the access token claims and
the userinfo response, and offers RP-initiated logout.

Delegation (README "Delegation"): when the person acts for someone, the claims page says for whom ("Vous agissez
pour …", from the ID token's `delegation` claim), shows `act` (userinfo, or the access token) and the scopes the
token response granted beside those asked (a delegation narrows them). With the `delegations` scope it offers its
own switcher: one link per principal of the `delegations` claim, restarting the sign-in with
`on_behalf_of=<principal sub>`, and one back to oneself. Its buttons refresh the tokens (refresh_token grant)
and ask the IdP whether the access token is still active (introspection with the portal's client credentials),
so a revocation at the IdP shows here at once.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
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
code{{background:#f4f4f4;padding:0 .2rem;word-break:break-all}}
a.button,button{{display:inline-block;font-size:1.1rem;padding:.7rem 1.2rem;background:#0b4f9c;color:#fff;
border:none;border-radius:.3rem;text-decoration:none;margin:.3rem 0;min-height:48px}}
.acting{{border-left:.4rem solid #b34700;background:#fff4e5;padding:.2rem 1rem;margin:1rem 0}}
.switcher li{{margin:.4rem 0}} form.inline{{display:inline-block;margin-right:.5rem}}</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"""

# The scopes the demo's two spaces ask for by default (the demo clients are registered with them, see
# idp/delegation/demo.py): `delegations` feeds the switcher; the delegated scopes let acting for someone yield
# a token with them; `offline_access` gives a refresh token, to see it refused once a delegation is revoked.
PATIENT_SCOPE = "openid profile email offline_access delegations appointments.manage dmp.read mssante.read mssante.send"
PRO_SCOPE = "openid profile scope_all offline_access delegations mssante.read mssante.send appointments.manage"
KIND_LABELS = {"assistant": "assistant(e)", "guardian": "parent ou tuteur légal", "proxy": "mandataire (procuration)"}
MAX_PARAM = 500


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), body=body), status_code=status)


def _decode_unverified(jwt: str) -> dict[str, Any]:
    """For display only: the portal is not the access token's audience, so it just shows the payload."""
    part = jwt.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def _json(value: Any) -> str:
    return html.escape(json.dumps(value, indent=2, ensure_ascii=False))


def _name(person: dict[str, Any]) -> str:
    name = " ".join(str(person[part]) for part in ("given_name", "family_name") if person.get(part))
    return name or str(person.get("sub", "?"))


def _day(epoch: Any) -> str:
    try:
        return datetime.fromtimestamp(float(epoch), UTC).strftime("%d/%m/%Y")
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


PATIENT_HOME = ('<p>Ce portail de démonstration se connecte avec Mandat.</p>'
                '<p><a class="button" href="/login">Se connecter avec Mandat</a></p>'
                '<p><a href="/login?acr=eidas2">Se connecter (niveau eidas2)</a> · '
                '<a href="/login?acr=eidas3">Se connecter (niveau eidas3)</a></p>'
                '<p>Agir pour un proche : connectez-vous comme <code>bob</code> (mandataire d\'Alice) ou comme le '
                'parent de démonstration, puis choisissez pour qui vous agissez.</p>'
                '<p><a href="/pro/">Espace professionnel</a> (professionnels de santé : carte CPS ou clé de '
                'sécurité ; leur secrétariat)</p>')
PRO_HOME = ('<p>Espace des professionnels de santé : connexion par carte CPS ou clé de sécurité. Leur secrétariat '
            'se connecte ici aussi et agit pour le médecin.</p>'
            '<p><a class="button" href="/pro/login">Se connecter avec Mandat</a></p>'
            '<p><a href="/pro/login?acr=eidas3&amp;scope=openid+profile+scope_all">Se connecter (niveau eidas3)</a>'
            '</p><p><a href="/">Portail patient</a></p>')


def create_portals(*, issuer: str, portal_url: str, patient: tuple[str, str], professional: tuple[str, str] | None
                   ) -> Starlette:
    """The demo patient portal (a `citizen` client) at /, and the professional space (a `professional` client) at
    /pro/ when its client exists: one process, two relying parties, so both sign-in pages can be tried."""
    app = create_portal(issuer=issuer, client_id=patient[0], client_secret=patient[1], portal_url=portal_url,
                        scope=PATIENT_SCOPE)
    if professional is not None:
        pro = create_portal(issuer=issuer, client_id=professional[0], client_secret=professional[1],
                            portal_url=portal_url, base="/pro", title="Espace professionnel (démo)", home_html=PRO_HOME,
                            scope=PRO_SCOPE)
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
        for name in ("claims", "scope", "on_behalf_of"):
            value = request.query_params.get(name)
            if value and len(value) <= MAX_PARAM:
                extra[name] = value
        if request.query_params.get("prompt") == "select_account":
            extra["prompt"] = "select_account"
        request.session["requested_scope"] = extra.get("scope", scope)
        response: Response = await mandat.authorize_redirect(request, f"{portal_url}{base}/callback",
                                                             nonce=secrets.token_urlsafe(16), **extra)
        return response

    async def callback(request: Request) -> Response:
        if "error" in request.query_params:
            return _page("Connexion refusée", f"<p id=\"error\">{html.escape(request.query_params['error'])}: "
                         f"{html.escape(request.query_params.get('error_description', ''))}</p>"
                         f'<p><a href="{base}/">Retour</a></p>', 400)
        try:
            token = await mandat.authorize_access_token(request)
        except OAuthError as exc:
            return _page("Connexion impossible", f"<p>{html.escape(str(exc))}</p><p><a href='{base}/'>Retour</a></p>",
                         400)
        userinfo = dict(await mandat.userinfo(token=token))
        id_claims = dict(token.get("userinfo") or {})
        previous = state_of(request)
        # The `delegations` claim is about the person themself: a token acting for someone does not carry it, so
        # the switcher keeps the list from the person's own last sign-in (never another person's).
        known = id_claims.get("delegations", userinfo.get("delegations"))
        if known is None and previous.get("actor") == id_claims.get("sub"):
            known = previous.get("delegations")
        sid = request.session.get("sid") or secrets.token_urlsafe(16)
        signed_in[sid] = {
            "tokens": {"id_token": token.get("id_token"), "access_token": token["access_token"],
                       "refresh_token": token.get("refresh_token")},
            "id_claims": id_claims, "userinfo": userinfo, "actor": id_claims.get("sub"),
            "requested_scope": str(request.session.pop("requested_scope", scope)),
            "granted_scope": str(token.get("scope", "")), "delegations": known,
            "csrf": secrets.token_urlsafe(16), "notice": None, "introspection": None,
        }
        request.session["sid"] = sid
        return RedirectResponse(f"{base}/claims", status_code=303)

    def acting_html(state: dict[str, Any], access: dict[str, Any]) -> str:
        delegation = state["id_claims"].get("delegation")
        act = state["userinfo"].get("act", access.get("act"))
        if not isinstance(delegation, dict):
            return ('<p id="acting-for">Vous agissez pour vous-même.</p>' if act is None else
                    f'<p id="acting-for">Jeton délégué : <code id="act">{_json(act)}</code></p>')
        principal = delegation.get("principal") or {}
        kind = KIND_LABELS.get(str(delegation.get("kind")), str(delegation.get("kind")))
        return (
            '<section class="acting" aria-labelledby="acting-for">'
            f'<h2 id="acting-for">Vous agissez pour {html.escape(_name(principal))}</h2>'
            f'<p>Délégation de type {html.escape(kind)}, n° <code id="delegation-id">'
            f'{html.escape(str(delegation.get("id", "")))}</code>. Le jeton d\'accès est celui de cette personne '
            '(<code>sub</code>) ; <code>act</code> nomme qui agit :</p>'
            f'<pre id="act">{_json(act)}</pre>'
            f'<p>Droits que donne la délégation : <code id="delegated-scopes">'
            f'{html.escape(" ".join(delegation.get("scopes") or []))}</code></p>'
            f'<p><a href="{html.escape(issuer)}/account/delegations">Voir ou révoquer cette délégation chez Mandat'
            '</a> (la personne pour qui vous agissez peut la révoquer ; vous pouvez y renoncer).</p></section>')

    def scopes_html(state: dict[str, Any]) -> str:
        asked, granted = state["requested_scope"].split(), state["granted_scope"].split()
        removed = [s for s in asked if s not in granted]
        return ('<h2>Droits accordés</h2>'
                f'<p>Demandés : <code id="requested-scope">{html.escape(" ".join(asked))}</code></p>'
                f'<p>Accordés (<code>scope</code> de la réponse du jeton) : <code id="granted-scope">'
                f'{html.escape(" ".join(granted))}</code></p>'
                + (f'<p>Retirés : <code id="removed-scope">{html.escape(" ".join(removed))}</code></p>'
                   if removed else ""))

    def switcher_html(state: dict[str, Any]) -> str:
        known = state.get("delegations")
        if not isinstance(known, list):
            return ""
        items = []
        for entry in known:
            principal = entry.get("principal") or {} if isinstance(entry, dict) else {}
            sub = principal.get("sub")
            if not isinstance(sub, str):
                continue
            kind = KIND_LABELS.get(str(entry.get("kind")), str(entry.get("kind")))
            items.append(f'<li><a href="{base}/login?{html.escape(urlencode({"on_behalf_of": sub}))}">'
                         f'Agir pour {html.escape(_name(principal))}</a> ({html.escape(kind)} : '
                         f'{html.escape(" ".join(entry.get("scopes") or []))}, jusqu\'au '
                         f'{_day(entry.get("valid_until"))})</li>')
        if not items:
            return ('<h2>Agir pour quelqu\'un</h2><p id="switcher">Personne ne vous a délégué d\'accès '
                    '(claim <code>delegations</code> vide).</p>')
        items.append(f'<li><a href="{base}/login">Agir pour moi-même</a> (choisissez « Moi-même » si Mandat '
                     'demande pour qui vous agissez)</li>')
        return ('<h2>Agir pour quelqu\'un</h2><p>D\'après le claim <code>delegations</code> : chaque lien relance la '
                'connexion avec <code>on_behalf_of</code>.</p>'
                f'<ul class="switcher" id="switcher">{"".join(items)}</ul>'
                f'<p><a href="{html.escape(issuer)}/account/delegations">Gérer ses délégations chez Mandat</a></p>')

    async def claims(request: Request) -> Response:
        state = state_of(request)
        tokens = state.get("tokens")
        if not tokens:
            return RedirectResponse(f"{base}/", status_code=303)
        access = _decode_unverified(tokens["access_token"])

        def block(title: str, value: Any, ident: str) -> str:
            return f'<h2>{title}</h2><pre id="{ident}">{_json(value)}</pre>'

        notice = state.get("notice")
        csrf = html.escape(state["csrf"])
        actions = (f'<form class="inline" method="post" action="{base}/introspect">'
                   f'<input type="hidden" name="csrf" value="{csrf}">'
                   '<button type="submit">Vérifier le jeton (introspection)</button></form>')
        if tokens.get("refresh_token"):
            actions += (f'<form class="inline" method="post" action="{base}/refresh">'
                        f'<input type="hidden" name="csrf" value="{csrf}">'
                        '<button type="submit">Rafraîchir les jetons</button></form>')
        introspection = state.get("introspection")
        body = ((f'<p role="status" id="notice">{html.escape(notice)}</p>' if notice else "")
                + acting_html(state, access) + scopes_html(state) + switcher_html(state)
                + f"<p>{actions}</p>"
                + (block("Introspection du jeton d'accès", introspection, "introspection")
                   if introspection is not None else "")
                + block("Jeton d'identité (ID token)", state.get("id_claims"), "id-token-claims")
                + block("Jeton d'accès (access token)", access, "access-token-claims")
                + block("Userinfo", state.get("userinfo"), "userinfo")
                + '<details><summary>Jeton d\'accès brut (pour essayer l\'échange de jeton, README)</summary>'
                f'<pre id="access-token">{html.escape(tokens["access_token"])}</pre></details>'
                + f'<p><a class="button" href="{base}/logout">Se déconnecter</a></p>')
        state["notice"] = None
        return _page("Vous êtes connecté", body)

    async def checked_state(request: Request) -> dict[str, Any] | None:
        state = state_of(request)
        form = await request.form()
        if not state.get("tokens") or not secrets.compare_digest(str(form.get("csrf", "")), state["csrf"]):
            return None
        return state

    async def refresh(request: Request) -> Response:
        state = await checked_state(request)
        if state is None:
            return RedirectResponse(f"{base}/", status_code=303)
        tokens = state["tokens"]
        if not tokens.get("refresh_token"):
            return _page("Rafraîchissement impossible", "<p>Aucun jeton de rafraîchissement (demandez "
                         f"<code>offline_access</code>).</p><p><a href='{base}/claims'>Retour</a></p>", 400)
        try:
            token = await mandat.fetch_access_token(grant_type="refresh_token", refresh_token=tokens["refresh_token"],
                                                    scope=state["granted_scope"])
        except OAuthError as exc:
            return _page("Rafraîchissement refusé",
                         f'<p id="refresh-error"><code>{html.escape(str(exc.error))}</code> : '
                         f'{html.escape(str(exc.description or ""))}</p>'
                         f"<p><a href='{base}/claims'>Retour</a> · <a href='{base}/logout'>Se reconnecter</a></p>", 400)
        tokens.update(access_token=token["access_token"],
                      refresh_token=token.get("refresh_token", tokens["refresh_token"]),
                      id_token=token.get("id_token", tokens.get("id_token")))
        state["granted_scope"] = str(token.get("scope", state["granted_scope"]))
        state["notice"], state["introspection"] = "Jetons rafraîchis.", None
        return RedirectResponse(f"{base}/claims", status_code=303)

    async def introspect(request: Request) -> Response:
        """What a resource server asks the IdP before trusting an access token (RFC 7662)."""
        state = await checked_state(request)
        if state is None:
            return RedirectResponse(f"{base}/", status_code=303)
        metadata = await mandat.load_server_metadata()
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(metadata["introspection_endpoint"],
                                     data={"token": state["tokens"]["access_token"],
                                           "token_type_hint": "access_token"},
                                     auth=(client_id, client_secret))
        state["introspection"] = answer.json() if answer.status_code == 200 else {
            "status": answer.status_code, "body": answer.text[:500]}
        return RedirectResponse(f"{base}/claims", status_code=303)

    async def logout(request: Request) -> Response:
        tokens = signed_in.pop(request.session.get("sid", ""), {}).get("tokens") or {}
        request.session.clear()
        params = {"post_logout_redirect_uri": f"{portal_url}{base}/", "client_id": client_id}
        if tokens.get("id_token"):
            params["id_token_hint"] = tokens["id_token"]
        return RedirectResponse(f"{issuer}/session/end?{urlencode(params)}", status_code=303)

    app = Starlette(routes=[Route("/", home), Route("/login", login), Route("/callback", callback),
                            Route("/claims", claims), Route("/refresh", refresh, methods=["POST"]),
                            Route("/introspect", introspect, methods=["POST"]), Route("/logout", logout)])
    app.add_middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32),
                       session_cookie="pro_portal_session" if base else "portal_session",
                       same_site="lax", https_only=portal_url.startswith("https"))
    return app
