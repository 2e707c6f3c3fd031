"""Token revocation (RFC 7009)."""

from __future__ import annotations

from tests.conftest import Env
from tests.unit.oidc.flows import assert_invalid_token, assert_json_error, refresh, tokens, userinfo


async def revoke(env: Env, token: str, client_id: str = "rp", **extra: str) -> object:
    return await env.http.post("/token/revoke", data={"token": token, **extra}, auth=env.auth(client_id))


async def setup(env: Env) -> None:
    await env.add_client()
    await env.add_client("rp2")
    await env.add_account()


async def test_revoking_a_refresh_token_revokes_the_grant(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    response = await env.http.post("/token/revoke", data={"token": issued["refresh_token"],
                                                          "token_type_hint": "refresh_token"}, auth=env.auth())
    assert response.status_code == 200 and response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert_json_error(await refresh(env, issued["refresh_token"]), "invalid_grant", "the grant was revoked")
    assert_invalid_token(await userinfo(env, issued["access_token"]))


async def test_revoking_an_access_token(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    response = await env.http.post("/token/revoke", data={"token": issued["access_token"]}, auth=env.auth())
    assert response.status_code == 200
    assert_invalid_token(await userinfo(env, issued["access_token"]))
    # Only that token: the grant and its refresh token live on.
    assert (await refresh(env, issued["refresh_token"])).status_code == 200


async def test_unknown_token_is_not_an_error(env: Env) -> None:
    await setup(env)
    for token in ("never-issued", "a.b.c"):
        response = await env.http.post("/token/revoke", data={"token": token}, auth=env.auth())
        assert response.status_code == 200


async def test_other_clients_refresh_token(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    response = await env.http.post("/token/revoke", data={"token": issued["refresh_token"]}, auth=env.auth("rp2"))
    assert_json_error(response, "unauthorized_client", "this token was issued to another client")
    assert (await refresh(env, issued["refresh_token"])).status_code == 200


async def test_other_clients_access_token(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    response = await env.http.post("/token/revoke", data={"token": issued["access_token"]}, auth=env.auth("rp2"))
    assert_json_error(response, "unauthorized_client", "this token was issued to another client")
    assert (await userinfo(env, issued["access_token"])).status_code == 200


async def test_unauthenticated(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    response = await env.http.post("/token/revoke", data={"token": issued["refresh_token"]})
    assert_json_error(response, "invalid_client", "client authentication is missing", status=401)
    assert response.headers["www-authenticate"] == 'Basic realm="mandat"'
    assert (await refresh(env, issued["refresh_token"])).status_code == 200


async def test_missing_token(env: Env) -> None:
    await setup(env)
    response = await env.http.post("/token/revoke", data={"token_type_hint": "access_token"}, auth=env.auth())
    assert_json_error(response, "invalid_request", "token is missing")
