"""Remembered consent: concurrent first consents (two tabs) must both succeed and merge."""

from __future__ import annotations

import asyncio

from tests.conftest import Env


async def test_concurrent_first_consents_merge_without_error(env: Env) -> None:
    await env.add_client()
    account_id = await env.add_account()
    accounts = env.container.accounts
    await asyncio.gather(*(accounts.remember(account_id, "rp", ["openid", scope])
                           for scope in ("profile", "email", "offline_access", "profile")))
    assert await accounts.granted_scopes(account_id, "rp") == {"openid", "profile", "email", "offline_access"}
