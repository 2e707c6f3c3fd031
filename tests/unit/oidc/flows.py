"""What the protocol tests share: reading redirects, error pages and JWTs, and walking the browser flow."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import ISSUER, PASSWORD, REDIRECT, Env, form_field


def query_of(location: str) -> dict[str, str]:
    """Single-valued query parameters of a redirect (a repeated one would fail the test)."""
    parsed = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in parsed.values()), location
    return {k: v[0] for k, v in parsed.items()}


def assert_redirected_error(response: httpx.Response, error: str, description: str, *,
                            state: str | None = "st-123", redirect_uri: str = REDIRECT,
                            status: int = 302) -> dict[str, str]:
    """An error sent back to the client (RFC 6749 §4.1.2.1) with `state` and `iss` (RFC 9207)."""
    assert response.status_code == status, response.text
    location = response.headers["location"]
    assert location.split("?")[0] == redirect_uri
    params = query_of(location)
    assert params["error"] == error
    assert params["error_description"] == description
    assert params["iss"] == ISSUER
    if state is None:
        assert "state" not in params
    else:
        assert params["state"] == state
    assert "code" not in params
    return params


def assert_error_page(response: httpx.Response, description: str, *, status: int = 400) -> None:
    """Shown on our own page and never redirected: the redirect target itself is in doubt."""
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert f"<p>{description}</p>" in response.text, response.text


def assert_json_error(response: httpx.Response, error: str, description: str, *, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": error, "error_description": description}
    assert response.headers["cache-control"] == "no-store"


def b64url_json(part: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def header_of(token: str) -> dict[str, Any]:
    return b64url_json(token.split(".")[0])


async def verified_claims(env: Env, token: str) -> dict[str, Any]:
    """Verify a token we issued against the published /jwks, as a relying party would."""
    keys = KeySet.import_key_set((await env.http.get("/jwks")).json())
    claims: dict[str, Any] = jwt.decode(token, keys, algorithms=["ES256"]).claims
    return claims


def login_action(page: str) -> str:
    action = re.search(r'action="(/interaction/[^"]+/login)"', page)
    assert action, page
    return action.group(1)


def consent_action(page: str) -> str:
    action = re.search(r'action="(/interaction/[^"]+/consent)"', page)
    assert action, page
    return action.group(1)


async def browse(env: Env, response: httpx.Response, *, username: str = "alice", password: str = PASSWORD,
                 decision: str = "allow", seen: list[str] | None = None,
                 act_as: str | None = None) -> httpx.Response:
    """Follow the interaction pages like a person would (sign in, "act as", consent) until we leave them.

    `seen` collects "login" / "act_as" / "consent" for each page shown, so tests can assert which were skipped;
    `act_as` answers the "act as" page (a delegation id, or "myself"); a test that does not expect it fails there.
    """
    for _ in range(8):
        location = response.headers.get("location", "")
        if response.status_code not in (302, 303) or not location.startswith("/interaction/"):
            return response
        page = await env.http.get(location)
        if page.status_code in (302, 303):
            response = page
            continue
        assert page.status_code == 200, page.text
        csrf = form_field(page.text, "csrf_token")
        act = re.search(r'action="(/interaction/[^"]+/act)"', page.text)
        if "/login\"" in page.text:
            step = "login"
            response = await env.http.post(login_action(page.text), data={
                "csrf_token": csrf, "username": username, "password": password})
        elif act:
            step = "act_as"
            assert act_as is not None, "unexpected act-as page"
            response = await env.http.post(act.group(1), data={"csrf_token": csrf, "acting_for": act_as})
        else:
            step = "consent"
            response = await env.http.post(consent_action(page.text), data={
                "csrf_token": csrf, "decision": decision})
        if seen is not None:
            seen.append(step)
    raise AssertionError("interaction did not finish")


async def authorize(env: Env, client_id: str = "rp", *, seen: list[str] | None = None, username: str = "alice",
                    decision: str = "allow", **overrides: Any) -> tuple[httpx.Response, str]:
    """Run /authorize through the pages; returns the final response (to the client) and the verifier."""
    params = env.authorize_params(client_id, **overrides)
    verifier = env.last_verifier
    response = await env.http.get("/authorize", params=params)
    response = await browse(env, response, seen=seen, username=username, decision=decision)
    return response, verifier


async def code_from(env: Env, client_id: str = "rp", **overrides: Any) -> tuple[str, str]:
    response, verifier = await authorize(env, client_id, **overrides)
    params = query_of(response.headers["location"])
    assert "code" in params, response.headers["location"]
    return params["code"], verifier


async def exchange(env: Env, code: str, verifier: str, client_id: str = "rp",
                   redirect_uri: str = REDIRECT) -> httpx.Response:
    return await env.token({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                            "code_verifier": verifier}, client_id=client_id)


async def tokens(env: Env, client_id: str = "rp", **overrides: Any) -> dict[str, Any]:
    code, verifier = await code_from(env, client_id, **overrides)
    response = await exchange(env, code, verifier, client_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(env: Env, refresh_token: str, client_id: str = "rp", **extra: str) -> httpx.Response:
    return await env.token({"grant_type": "refresh_token", "refresh_token": refresh_token, **extra},
                           client_id=client_id)


async def userinfo(env: Env, access_token: str) -> httpx.Response:
    return await env.http.get("/userinfo", headers={"authorization": f"Bearer {access_token}"})


def assert_invalid_token(response: httpx.Response,
                         description: str = "the access token is invalid, expired or revoked") -> None:
    """RFC 6750 §3: 401 with the error in WWW-Authenticate as well as the body."""
    assert_json_error(response, "invalid_token", description, status=401)
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{description}"')
