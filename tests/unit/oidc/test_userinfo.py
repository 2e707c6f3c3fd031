"""UserInfo (OIDC Core §5.3) with Bearer tokens (RFC 6750): header or form body, never the query string."""

from __future__ import annotations

import json

from tests.conftest import Env
from tests.unit.oidc.flows import assert_invalid_token, assert_json_error, tokens, userinfo, verified_claims


async def setup(env: Env) -> None:
    await env.add_client()
    await env.add_account()


async def test_bearer_header(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    response = await userinfo(env, issued["access_token"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["sub"] == (await verified_claims(env, issued["id_token"]))["sub"]
    assert body["given_name"] == "Alice"
    assert body["email"] == "alice@example.org"


async def test_post_form_body(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    response = await env.http.post("/userinfo", data={"access_token": issued["access_token"]})
    assert response.status_code == 200, response.text
    assert response.json()["given_name"] == "Alice"


async def test_query_string_is_refused(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    response = await env.http.get("/userinfo", params={"access_token": issued["access_token"]})
    description = "do not send access tokens in the query string (RFC 6750 §2.3)"
    assert_json_error(response, "invalid_request", description)
    assert response.headers["www-authenticate"] == f'Bearer error="invalid_request", error_description="{description}"'


async def test_token_sent_twice(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    response = await env.http.post("/userinfo", data={"access_token": issued["access_token"]},
                                   headers={"authorization": f"Bearer {issued['access_token']}"})
    assert_json_error(response, "invalid_request", "send the access token once")


async def test_no_token(sqlite_env: Env) -> None:
    """RFC 6750 §3.1: no credentials → a bare Bearer challenge, without an error code."""
    response = await sqlite_env.http.get("/userinfo")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="mandat"'
    assert response.json() == {"error": "invalid_token",
                               "error_description": "an access token is required (Authorization: Bearer)"}


async def test_garbage_token(sqlite_env: Env) -> None:
    assert_invalid_token(await userinfo(sqlite_env, "garbage"))
    assert_invalid_token(await userinfo(sqlite_env, "a.b.c"))


async def test_expired_token(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    provider = env.container.provider
    start = provider.clock()
    provider.clock = lambda: start + 601
    assert_invalid_token(await userinfo(env, issued["access_token"]))


async def test_revoked_token(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    revoked = await env.http.post("/token/revoke", data={"token": issued["access_token"]}, auth=env.auth())
    assert revoked.status_code == 200
    assert_invalid_token(await userinfo(env, issued["access_token"]))


async def test_id_token_is_not_an_access_token(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    assert_invalid_token(await userinfo(env, issued["id_token"]))


async def test_claims_follow_scopes(env: Env) -> None:
    await setup(env)
    profile = (await userinfo(env, (await tokens(env, scope="openid profile"))["access_token"])).json()
    assert profile["given_name"] == "Alice" and profile["family_name"] == "Martin"
    assert profile["preferred_username"] == "alice"
    assert "email" not in profile
    email = (await userinfo(env, (await tokens(env, scope="openid email"))["access_token"])).json()
    assert email["email"] == "alice@example.org"
    assert "given_name" not in email and "preferred_username" not in email
    bare = (await userinfo(env, (await tokens(env, scope="openid"))["access_token"])).json()
    assert set(bare) == {"sub"}


async def test_claims_parameter_for_userinfo(env: Env) -> None:
    await setup(env)
    claims = json.dumps({"userinfo": {"email": {"essential": True}, "given_name": None}})
    body = (await userinfo(env, (await tokens(env, scope="openid", claims=claims))["access_token"])).json()
    assert body["email"] == "alice@example.org"
    assert body["given_name"] == "Alice"
    assert "family_name" not in body


async def test_claims_parameter_for_id_token(env: Env) -> None:
    await setup(env)
    claims = json.dumps({"id_token": {"email": None}})
    issued = await tokens(env, scope="openid", claims=claims)
    id_claims = await verified_claims(env, issued["id_token"])
    assert id_claims["email"] == "alice@example.org"
    assert "email" not in (await userinfo(env, issued["access_token"])).json()
