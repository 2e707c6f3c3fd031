"""Interop: Authlib's OAuth 2.0 client, an independent implementation, against a live Mandat under uvicorn.

Code + PKCE (S256) with the real login form (CSRF token included), then refresh, userinfo, introspection,
revocation and RP-initiated logout.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import PASSWORD, form_field

REDIRECT = "http://127.0.0.1:9/callback"
LOGOUT_REDIRECT = "http://127.0.0.1:9/signed-out"


async def browser_login(browser: httpx.AsyncClient, url: str) -> str:
    """Play the person's browser: follow to the login page, post it, consent; return the callback URL."""
    response = await browser.get(url)
    assert response.status_code == 303
    page = await browser.get(urljoin(url, response.headers["location"]))
    action = re.search(r'action="(/interaction/[^"]+/login)"', page.text)
    assert action
    response = await browser.post(urljoin(url, action.group(1)), data={
        "csrf_token": form_field(page.text, "csrf_token"), "username": "alice", "password": PASSWORD})
    assert response.status_code == 303
    page = await browser.get(urljoin(url, response.headers["location"]))
    if page.status_code == 303:  # consent remembered from an earlier sign-in
        response = page
    else:
        action = re.search(r'action="(/interaction/[^"]+/consent)"', page.text)
        assert action, page.text
        response = await browser.post(urljoin(url, action.group(1)), data={
            "csrf_token": form_field(page.text, "csrf_token"), "decision": "allow"})
    assert response.status_code == 303
    location: str = response.headers["location"]
    assert location.startswith(REDIRECT)
    return location


async def test_authlib_client_full_lifecycle(live_idp_factory: Any) -> None:
    async with live_idp_factory() as idp:
        created = await idp.container.clients.register(
            client_id="interop", redirect_uris=[REDIRECT], post_logout_redirect_uris=[LOGOUT_REDIRECT],
            scopes=["openid", "profile", "email", "offline_access"], auth_method="client_secret_basic")
        await idp.container.accounts.create(username="alice", password=PASSWORD, given_name="Alice",
                                            family_name="Martin", email="alice@example.org")
        async with httpx.AsyncClient(base_url=idp.issuer) as anonymous:
            metadata = (await anonymous.get("/.well-known/openid-configuration")).json()
            keys = KeySet.import_key_set((await anonymous.get(metadata["jwks_uri"])).json())
        client = AsyncOAuth2Client(client_id="interop", client_secret=created.secret,
                                   scope="openid profile email offline_access", redirect_uri=REDIRECT,
                                   code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")
        verifier = generate_token(48)
        nonce = secrets.token_urlsafe(12)
        url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                     nonce=nonce)
        async with httpx.AsyncClient(follow_redirects=False) as person:
            callback = await browser_login(person, url)
        query = parse_qs(urlsplit(callback).query)
        assert query["state"] == [state]
        assert query["iss"] == [idp.issuer]  # RFC 9207

        token = await client.fetch_token(metadata["token_endpoint"], authorization_response=callback,
                                         code_verifier=verifier)
        id_token = jwt.decode(token["id_token"], keys, algorithms=["ES256"])
        assert id_token.header["alg"] == "ES256"
        assert id_token.claims["nonce"] == nonce
        assert id_token.claims["aud"] == "interop"
        assert id_token.claims["iss"] == idp.issuer
        assert id_token.claims["amr"] == ["pwd"] and id_token.claims["acr"] == "eidas1"
        access = jwt.decode(token["access_token"], keys, algorithms=["ES256"])
        assert access.header["typ"] == "at+jwt"

        refreshed = await client.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        userinfo = (await client.get(metadata["userinfo_endpoint"])).json()
        assert userinfo["sub"] == id_token.claims["sub"]
        assert userinfo["email"] == "alice@example.org"

        introspection = (await client.introspect_token(metadata["introspection_endpoint"],
                                                       token=refreshed["access_token"])).json()
        assert introspection["active"] is True and introspection["client_id"] == "interop"

        revoked = await client.revoke_token(metadata["revocation_endpoint"], token=refreshed["refresh_token"],
                                            token_type_hint="refresh_token")
        assert revoked.status_code == 200
        after = (await client.introspect_token(metadata["introspection_endpoint"],
                                               token=refreshed["access_token"])).json()
        assert after == {"active": False}  # revoking the refresh token revoked its grant

        async with httpx.AsyncClient(follow_redirects=False) as person:
            # A fresh sign-in to own a session, then log out with the ID token as hint.
            url, _ = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                     nonce=nonce)
            callback = await browser_login(person, url)
            token = await client.fetch_token(metadata["token_endpoint"], authorization_response=callback,
                                             code_verifier=verifier)
            logout = await person.get(metadata["end_session_endpoint"], params={
                "id_token_hint": token["id_token"], "post_logout_redirect_uri": LOGOUT_REDIRECT, "state": "bye"})
            assert logout.status_code == 303
            assert logout.headers["location"] == f"{LOGOUT_REDIRECT}?state=bye"
            again = await person.get(url)
            assert again.headers["location"].startswith("/interaction/")  # the SSO session is gone
        await client.aclose()
