"""refresh_token grant: rotation, reuse detection, client binding, scope, absolute lifetime, logout."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.conftest import Env
from tests.unit.oidc.flows import assert_invalid_token, assert_json_error, refresh, tokens, userinfo

DAY = 86400


async def setup(env: Env) -> None:
    await env.add_client()
    await env.add_account()


async def test_rotation_issues_a_new_refresh_token_each_time(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    seen = {issued["refresh_token"]}
    current = issued["refresh_token"]
    for _ in range(3):
        response = await refresh(env, current)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["refresh_token"] not in seen
        assert (await userinfo(env, body["access_token"])).status_code == 200
        assert "id_token" in body
        seen.add(body["refresh_token"])
        current = body["refresh_token"]


async def test_reused_refresh_token_revokes_the_whole_grant(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    rotated = (await refresh(env, issued["refresh_token"])).json()

    reused = await refresh(env, issued["refresh_token"])
    assert_json_error(reused, "invalid_grant", "refresh token was already used; the grant is revoked")
    # The legitimate holder's newest token dies with the grant, and so do all access tokens.
    assert_json_error(await refresh(env, rotated["refresh_token"]), "invalid_grant", "the grant was revoked")
    assert_invalid_token(await userinfo(env, issued["access_token"]))
    assert_invalid_token(await userinfo(env, rotated["access_token"]))


async def test_unknown_refresh_token(env: Env) -> None:
    await setup(env)
    assert_json_error(await refresh(env, "nope"), "invalid_grant", "refresh token is invalid")


async def test_missing_refresh_token(env: Env) -> None:
    await setup(env)
    response = await env.token({"grant_type": "refresh_token"})
    assert_json_error(response, "invalid_request", "refresh_token is missing")


async def test_refresh_token_of_another_client(env: Env) -> None:
    await setup(env)
    await env.add_client("rp2")
    issued = await tokens(env)
    response = await refresh(env, issued["refresh_token"], client_id="rp2")
    assert_json_error(response, "invalid_grant", "refresh token was issued to another client")
    # The attempt did not burn the owner's token.
    assert (await refresh(env, issued["refresh_token"])).status_code == 200


async def test_scope_can_be_narrowed(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    response = await refresh(env, issued["refresh_token"], scope="openid email")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "openid email"
    claims = (await userinfo(env, body["access_token"])).json()
    assert "email" in claims and "given_name" not in claims
    # Narrowing one response does not shrink the grant.
    wider = await refresh(env, body["refresh_token"])
    assert wider.json()["scope"] == "openid profile email"


async def test_scope_cannot_be_widened(env: Env) -> None:
    await setup(env)
    issued = await tokens(env, scope="openid profile")
    response = await refresh(env, issued["refresh_token"], scope="openid profile email")
    assert_json_error(response, "invalid_scope", "scope exceeds what was granted")
    # The refused request did not consume the token: a corrected retry works (and is not a "reuse").
    assert (await refresh(env, issued["refresh_token"])).status_code == 200


async def test_a_locked_account_refuses_refresh_without_consuming_the_token(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    account = await env.container.accounts.by_username("alice")
    assert account is not None
    await env.container.accounts.lock(account.id)
    response = await refresh(env, issued["refresh_token"])
    assert_json_error(response, "invalid_grant", "the account is no longer active")
    # Unlocked, the same token still works once: the refusal did not make its next use look like a reuse.
    await env.container.accounts.unlock(account.id)
    assert (await refresh(env, issued["refresh_token"])).status_code == 200
    assert_json_error(await refresh(env, issued["refresh_token"]), "invalid_grant",
                      "refresh token was already used; the grant is revoked")


async def test_refresh_token_idle_expiry(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    provider = env.container.provider
    start = provider.clock()
    provider.clock = lambda: start + DAY + 1
    assert_json_error(await refresh(env, issued["refresh_token"]), "invalid_grant", "refresh token expired")


async def test_absolute_lifetime_ends_the_grant_despite_rotation(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    provider = env.container.provider
    start = provider.clock()
    current = issued["refresh_token"]
    elapsed = 0
    # Rotate every 23 h: each refresh token is used well within its idle lifetime.
    while elapsed + 23 * 3600 < 30 * DAY:
        elapsed += 23 * 3600
        provider.clock = lambda e=elapsed: start + e
        response = await refresh(env, current)
        assert response.status_code == 200, (elapsed, response.text)
        current = response.json()["refresh_token"]
    provider.clock = lambda: start + 30 * DAY + 1
    assert_json_error(await refresh(env, current), "invalid_grant", "refresh token expired")


async def logout(env: Env, id_token: str) -> None:
    response = await env.http.get("/session/end?" + urlencode({"id_token_hint": id_token}))
    assert response.status_code == 200, response.text
    assert "mandat_session" not in env.http.cookies


async def test_logout_revokes_session_grants_but_not_offline_access(env: Env) -> None:
    await env.add_client()
    await env.add_client("backup", redirect_uris=["https://rp.example/cb"])
    await env.add_account()
    online = await tokens(env, scope="openid profile")
    offline = await tokens(env, "backup", scope="openid offline_access")
    await logout(env, online["id_token"])

    assert_json_error(await refresh(env, online["refresh_token"]), "invalid_grant", "the grant was revoked")
    assert_invalid_token(await userinfo(env, online["access_token"]))
    survived = await refresh(env, offline["refresh_token"], client_id="backup")
    assert survived.status_code == 200, survived.text
    assert (await userinfo(env, survived.json()["access_token"])).status_code == 200
