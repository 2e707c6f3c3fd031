"""The whole code flow on both backends: the baseline every other protocol test varies."""

from __future__ import annotations

from tests.conftest import REDIRECT, Env


async def test_code_flow_issues_tokens_then_userinfo(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    tokens = await env.tokens_for()
    assert set(tokens) >= {"access_token", "id_token", "refresh_token", "expires_in", "token_type"}
    userinfo = await env.http.get("/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["given_name"] == "Alice"
    assert userinfo.json()["email"] == "alice@example.org"
    assert REDIRECT
