"""Card sign-in as a browser drives it, over any httpx client (ASGI in unit tests, a live server in e2e).

authorize → login page (CSRF token) → POST card/challenge → the card signs (agent or in-process) →
POST card/verify → consent → code → token → userinfo.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from idp.cards.cps import CpsCard
from idp.cards.emulator import VirtualCpsCard
from idp.cards.verify import signed_message
from tests.conftest import REDIRECT, form_field, pkce_pair

PIN = "1234"
PSC_SCOPE = "openid profile scope_all"
# What the agent returns for a challenge (JSON body of POST /sign).
Signer = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass
class LoginPage:
    uid: str
    csrf: str
    html: str
    verifier: str


def in_process_signer(card: VirtualCpsCard, origin: str, pin: str = PIN) -> Signer:
    async def sign(challenge: str) -> dict[str, Any]:
        signature = CpsCard(card.transmit).authenticate(pin, signed_message(origin, challenge))
        return {"certificate": base64.b64encode(signature.certificate).decode(),
                "signature": base64.b64encode(signature.signature).decode(), "alg": signature.alg}

    return sign


def agent_signer(agent: httpx.AsyncClient, pin: str = PIN) -> Signer:
    async def sign(challenge: str) -> dict[str, Any]:
        response = await agent.post("/sign", json={"challenge": challenge, "pin": pin})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return sign


async def open_login_page(http: httpx.AsyncClient, *, client_id: str = "rp", scope: str = PSC_SCOPE,
                          redirect_uri: str = REDIRECT, **extra: str) -> LoginPage:
    verifier, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
              "state": "st-card", "nonce": "n-card", "code_challenge": challenge, "code_challenge_method": "S256",
              **extra}
    response = await http.get("/authorize", params=params)
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert "/interaction/" in location, location
    page = await http.get(location)
    assert page.status_code == 200, page.text
    match = re.search(r'data-csrf="([^"]+)"', page.text)
    assert match, "no card method on the login page"
    return LoginPage(location.rstrip("/").rsplit("/", 1)[1], match.group(1), page.text, verifier)


async def post_challenge(http: httpx.AsyncClient, page: LoginPage, *, csrf: str | None = None) -> httpx.Response:
    return await http.post(f"/interaction/{page.uid}/card/challenge", json={},
                           headers={"x-csrf-token": page.csrf if csrf is None else csrf})


async def post_verify(http: httpx.AsyncClient, page: LoginPage, challenge: str, answer: dict[str, Any], *,
                      csrf: str | None = None) -> httpx.Response:
    return await http.post(f"/interaction/{page.uid}/card/verify", json={"challenge": challenge, **answer},
                           headers={"x-csrf-token": page.csrf if csrf is None else csrf})


async def card_sign_in(http: httpx.AsyncClient, page: LoginPage, sign: Signer) -> httpx.Response:
    """challenge → signature → verify; returns the verify response."""
    challenge = await post_challenge(http, page)
    assert challenge.status_code == 200, challenge.text
    value = challenge.json()["challenge"]
    return await post_verify(http, page, value, await sign(value))


async def code_after_sign_in(http: httpx.AsyncClient, verified: httpx.Response) -> str:
    """Follow the interaction (consent if asked) to the redirect carrying the code."""
    assert verified.status_code == 200, verified.text
    location = verified.json()["redirect"]
    for _ in range(4):
        response = await http.get(location)
        if response.status_code == 200 and 'action="/interaction/' in response.text:
            action = re.search(r'action="(/interaction/[^"]+/consent)"', response.text)
            assert action, response.text
            response = await http.post(action.group(1), data={
                "csrf_token": form_field(response.text, "csrf_token"), "decision": "allow"})
        assert response.status_code in (302, 303), response.text
        location = response.headers["location"]
        query = parse_qs(urlsplit(location).query)
        if "code" in query:
            return query["code"][0]
        assert "error" not in query, location
    raise AssertionError("no code after sign-in")


async def tokens_and_userinfo(http: httpx.AsyncClient, code: str, verifier: str, client: tuple[str, str], *,
                              redirect_uri: str = REDIRECT) -> tuple[dict[str, Any], dict[str, Any]]:
    token = await http.post("/token", auth=client, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier})
    assert token.status_code == 200, token.text
    tokens: dict[str, Any] = token.json()
    userinfo = await http.get("/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 200, userinfo.text
    claims: dict[str, Any] = userinfo.json()
    return tokens, claims


def jwt_claims(token: str) -> dict[str, Any]:
    import json

    part = token.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value
