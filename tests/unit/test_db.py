"""`Database.transaction`: a transaction opened inside another joins it, so a use case spanning several services
commits or rolls back as one (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.accounts.models import Account
from idp.grants.models import GrantRecord
from tests.conftest import Env


async def test_a_nested_transaction_joins_the_outer_one(env: Env) -> None:
    db = env.container.db
    async with db.transaction() as outer:
        async with db.transaction() as inner:
            assert inner is outer


async def test_a_recovery_is_all_or_nothing(env: Env) -> None:
    """The account recovery shape: a password change and revocations in services of their own, then a failure
    before the commit: nothing of it stays."""
    account_id = await env.add_account("alice")
    await env.add_client("rp")
    issued = await env.tokens_for()
    assert issued["access_token"]

    class Crash(Exception):
        pass

    with pytest.raises(Crash):
        async with env.container.db.transaction() as session:
            account = await session.get(Account, account_id)
            assert account is not None
            account.password_hash = "replaced"
            revoked = await env.container.grants.revoke_for_account(account_id, "account_recovered")
            assert revoked
            raise Crash
    async with env.container.db.session() as session:
        account = await session.get(Account, account_id)
        assert account is not None and account.password_hash != "replaced"
        grants = list(await session.scalars(select(GrantRecord).where(GrantRecord.account_id == account_id)))
    assert grants and all(g.revoked_at is None for g in grants)
