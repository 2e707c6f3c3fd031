"""Token introspection (RFC 7662): only a token's own client (or audience) learns anything about it."""

from __future__ import annotations

from tests.conftest import ISSUER, Env
from tests.unit.oidc.flows import assert_json_error, tokens, verified_claims

INACTIVE = {"active": False}


async def introspect(env: Env, token: str, client_id: str = "rp", **extra: str) -> dict[str, object]:
    response = await env.http.post("/token/introspect", data={"token": token, **extra}, auth=env.auth(client_id))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, object] = response.json()
    return body


async def setup(env: Env) -> None:
    await env.add_client()
    await env.add_client("rp2")
    await env.add_account()


async def test_own_access_token_is_active(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    body = await introspect(env, issued["access_token"], token_type_hint="access_token")
    claims = await verified_claims(env, issued["access_token"])
    assert body["active"] is True
    assert body["client_id"] == "rp"
    assert body["scope"] == "openid profile email"
    assert body["sub"] == claims["sub"]
    assert body["iss"] == ISSUER
    assert body["exp"] == claims["exp"]
    assert "gid" not in body  # internal grant id stays private


async def test_other_clients_access_token_is_inactive(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    assert await introspect(env, issued["access_token"], client_id="rp2") == INACTIVE


async def test_revoked_access_token_is_inactive(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    await env.http.post("/token/revoke", data={"token": issued["access_token"]}, auth=env.auth())
    assert await introspect(env, issued["access_token"]) == INACTIVE


async def test_expired_access_token_is_inactive(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    provider = env.container.provider
    start = provider.clock()
    provider.clock = lambda: start + 601
    assert await introspect(env, issued["access_token"]) == INACTIVE


async def test_own_refresh_token_is_active(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    body = await introspect(env, issued["refresh_token"], token_type_hint="refresh_token")
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["client_id"] == "rp"
    assert body["scope"] == "openid profile email"
    assert body["sub"] == (await verified_claims(env, issued["id_token"]))["sub"]


async def test_other_clients_refresh_token_is_inactive(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    assert await introspect(env, issued["refresh_token"], client_id="rp2") == INACTIVE


async def test_used_refresh_token_is_inactive(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    await env.token({"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert await introspect(env, issued["refresh_token"]) == INACTIVE


async def test_revoked_grant_refresh_token_is_inactive(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    await env.http.post("/token/revoke", data={"token": issued["refresh_token"]}, auth=env.auth())
    assert await introspect(env, issued["refresh_token"]) == INACTIVE
    assert await introspect(env, issued["access_token"]) == INACTIVE


async def test_unknown_token_is_inactive(env: Env) -> None:
    await setup(env)
    assert await introspect(env, "nothing-we-issued") == INACTIVE


async def test_public_client_is_refused(env: Env) -> None:
    await env.add_client("spa", auth_method="none")
    response = await env.http.post("/token/introspect", data={"token": "x", "client_id": "spa"})
    assert_json_error(response, "invalid_client", "public clients may not introspect", status=401)
    assert response.headers["www-authenticate"] == 'Basic realm="mandat"'


async def test_unauthenticated_is_refused(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    response = await env.http.post("/token/introspect", data={"token": issued["access_token"]})
    assert_json_error(response, "invalid_client", "client authentication is missing", status=401)
    assert response.headers["www-authenticate"] == 'Basic realm="mandat"'


async def test_missing_token(env: Env) -> None:
    await setup(env)
    response = await env.http.post("/token/introspect", data={"token_type_hint": "access_token"}, auth=env.auth())
    assert_json_error(response, "invalid_request", "token is missing")


async def test_bad_token_type_hint(env: Env) -> None:
    await setup(env)
    response = await env.http.post("/token/introspect", data={"token": "x", "token_type_hint": "id_token"},
                                   auth=env.auth())
    assert_json_error(response, "unsupported_token_type", "token_type_hint must be access_token or refresh_token")
