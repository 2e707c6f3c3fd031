"""client_credentials grant (RFC 6749 §4.4): a token for the client itself, never for a person."""

from __future__ import annotations

from tests.conftest import ISSUER, Env
from tests.unit.oidc.flows import assert_invalid_token, assert_json_error, header_of, userinfo, verified_claims

CC = {"grant_type": "client_credentials"}


async def service(env: Env, scopes: str = "openid api:read api:write") -> None:
    await env.add_client("svc", grant_types=("client_credentials",), scopes=scopes)


async def test_token_for_the_client_itself(env: Env) -> None:
    await service(env)
    response = await env.token(CC, client_id="svc")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no refresh, no ID token
    assert body["token_type"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"
    assert header_of(body["access_token"])["typ"] == "at+jwt"
    claims = await verified_claims(env, body["access_token"])
    assert claims["sub"] == "svc"
    assert claims["client_id"] == "svc"
    assert claims["aud"] == ISSUER
    assert "gid" not in claims
    # Person-related scopes are never granted to a client on its own.
    assert body["scope"] == claims["scope"] == "api:read api:write"


async def test_scope_can_be_narrowed(env: Env) -> None:
    await service(env)
    response = await env.token({**CC, "scope": "api:read"}, client_id="svc")
    assert response.json()["scope"] == "api:read"


async def test_scope_not_allowed(env: Env) -> None:
    await service(env)
    response = await env.token({**CC, "scope": "api:read admin"}, client_id="svc")
    assert_json_error(response, "invalid_scope", "scope not allowed for this client: admin")


async def test_person_scopes_are_refused(env: Env) -> None:
    await service(env)
    response = await env.token({**CC, "scope": "openid"}, client_id="svc")
    assert_json_error(response, "invalid_scope", "scope not allowed for this client: openid")


async def test_client_credentials_token_is_useless_at_userinfo(env: Env) -> None:
    await service(env)
    token = (await env.token(CC, client_id="svc")).json()["access_token"]
    assert_invalid_token(await userinfo(env, token), "this access token does not represent a person")


async def test_client_without_the_grant(env: Env) -> None:
    await env.add_client()
    response = await env.token(CC)
    assert_json_error(response, "unauthorized_client", "this client may not use the client_credentials grant")
