"""Password sign-in: no account enumeration, backoff that never locks a person out, argon2 re-hashing."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import update

from idp.accounts.models import Account
from idp.accounts.passwords import Passwords
from tests.conftest import PASSWORD, Env, form_field

WRONG = "The username or password is incorrect. Check them and try again."
THROTTLED = re.compile(r"Too many attempts\. Wait \d+ minute\(s\), or sign in with your card or security key\.")


async def login_page(env: Env) -> tuple[str, str]:
    response = await env.http.get("/authorize", params=env.authorize_params(ui_locales="en"))
    location = response.headers["location"]
    page = await env.http.get(location)
    return location, form_field(page.text, "csrf_token")


async def attempt(env: Env, location: str, csrf: str, username: str, password: str) -> httpx.Response:
    return await env.http.post(f"{location}/login", data={"csrf_token": csrf, "username": username,
                                                           "password": password})


def neutral(response: httpx.Response, username: str) -> str:
    """The page with the typed username (echoed back into the field) blanked out."""
    return response.text.replace(f'value="{username}"', 'value=""')


async def test_wrong_password_and_unknown_user_answer_alike(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    location, csrf = await login_page(env)
    wrong_password = await attempt(env, location, csrf, "alice", "not-the-password")
    unknown_user = await attempt(env, location, csrf, "mallory", "not-the-password")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert WRONG in wrong_password.text
    assert neutral(wrong_password, "alice") == neutral(unknown_user, "mallory")
    assert "mandat_session" not in wrong_password.headers.get("set-cookie", "")


async def test_disabled_account_answers_like_a_wrong_password(env: Env) -> None:
    await env.add_client()
    account_id = await env.add_account()
    async with env.container.db.transaction() as session:
        await session.execute(update(Account).where(Account.id == account_id).values(status="disabled"))
    location, csrf = await login_page(env)
    disabled = await attempt(env, location, csrf, "alice", PASSWORD)
    unknown = await attempt(env, location, csrf, "mallory", PASSWORD)
    assert disabled.status_code == unknown.status_code == 401
    assert neutral(disabled, "alice") == neutral(unknown, "mallory")


async def test_backoff_after_max_failures_alike_for_existing_and_unknown(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    location, csrf = await login_page(env)
    limit = env.settings.login_max_failures
    pages = {}
    for username in ("alice", "nobody-here"):
        for _ in range(limit):
            assert (await attempt(env, location, csrf, username, "wrong")).status_code == 401
        throttled = await attempt(env, location, csrf, username, "wrong")
        assert throttled.status_code == 429
        assert THROTTLED.search(throttled.text), throttled.text
        pages[username] = neutral(throttled, username)
    assert pages["alice"] == pages["nobody-here"]
    # The right password does not get through during the backoff either (or it would confirm a guess).
    blocked = await attempt(env, location, csrf, "alice", PASSWORD)
    assert blocked.status_code == 429


async def test_backoff_is_per_username(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    await env.add_account("bob")
    location, csrf = await login_page(env)
    for _ in range(env.settings.login_max_failures + 1):
        await attempt(env, location, csrf, "alice", "wrong")
    response = await attempt(env, location, csrf, "bob", PASSWORD)
    assert response.status_code == 303


async def test_backoff_ignores_username_case_and_spaces(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    location, csrf = await login_page(env)
    for _ in range(env.settings.login_max_failures):
        await attempt(env, location, csrf, "alice", "wrong")
    assert (await attempt(env, location, csrf, " ALICE ", "wrong")).status_code == 429


async def test_password_is_rehashed_when_parameters_change(env: Env) -> None:
    accounts = env.container.accounts
    account_id = await env.add_account()
    before = await accounts.get(account_id)
    assert before is not None and before.password_hash is not None
    assert "$m=1024,t=1,p=1$" in before.password_hash

    accounts.passwords = Passwords(time_cost=2, memory_kib=2048, parallelism=1)
    result = await accounts.login_with_password("alice", PASSWORD, "203.0.113.9")
    assert result.ok
    after = await accounts.get(account_id)
    assert after is not None and after.password_hash is not None
    assert "$m=2048,t=2,p=1$" in after.password_hash
    assert after.password_hash != before.password_hash
    # The new hash verifies, and an unchanged configuration leaves it alone.
    assert (await accounts.login_with_password("alice", PASSWORD, "203.0.113.9")).ok
    again = await accounts.get(account_id)
    assert again is not None and again.password_hash == after.password_hash


async def test_wrong_password_does_not_rehash(env: Env) -> None:
    accounts = env.container.accounts
    account_id = await env.add_account()
    before = await accounts.get(account_id)
    accounts.passwords = Passwords(time_cost=2, memory_kib=2048, parallelism=1)
    assert not (await accounts.login_with_password("alice", "wrong", "203.0.113.9")).ok
    after = await accounts.get(account_id)
    assert before is not None and after is not None and after.password_hash == before.password_hash
