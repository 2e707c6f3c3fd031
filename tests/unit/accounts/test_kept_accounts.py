"""Accounts kept per process for the token paths (AccountService.is_active / claims, idp/stamped.py): any
transaction that writes the accounts table, through any service, makes every process read the account again
(two services over one database and one ephemeral store stand for two processes), on both backends."""

from __future__ import annotations

from sqlalchemy import text, update

from idp.accounts.models import Account
from idp.accounts.service import AccountService
from idp.oidc.models import Client
from tests.conftest import Env


def other_process(env: Env, keep_seconds: float = 3600) -> AccountService:
    mine = env.container.accounts
    return AccountService(env.container.db, mine.passwords, mine.guard, store=env.store, keep_seconds=keep_seconds)


async def names(service: AccountService, env: Env, account_id: str) -> dict[str, object]:
    client = await env.container.clients.get("rp")
    assert isinstance(client, Client)
    return await service.claims(account_id, frozenset({"openid", "profile"}), frozenset(), client)


async def test_a_lock_in_one_process_is_seen_at_once_by_another(env: Env) -> None:
    account_id = await env.add_account("alice")
    other = other_process(env)
    assert await other.is_active(account_id)  # now kept by the other process
    await env.container.accounts.lock(account_id)
    assert not await other.is_active(account_id)
    await env.container.accounts.unlock(account_id)
    assert await other.is_active(account_id)


async def test_an_orm_change_by_another_service_is_seen_at_once(env: Env) -> None:
    """The enrolment and delegation services change Account rows in their own transactions."""
    account_id = await env.add_account("alice")
    await env.add_client("rp")
    other = other_process(env)
    assert (await names(other, env, account_id))["given_name"] == "Alice"
    async with env.container.db.transaction() as session:
        account = await session.get(Account, account_id)
        assert account is not None
        account.given_name = "Alicia"
    assert (await names(other, env, account_id))["given_name"] == "Alicia"


async def test_an_update_statement_is_seen_at_once(env: Env) -> None:
    account_id = await env.add_account("alice")
    other = other_process(env)
    assert await other.is_active(account_id)
    async with env.container.db.transaction() as session:
        await session.execute(update(Account).where(Account.id == account_id).values(status="locked"))
    assert not await other.is_active(account_id)


async def test_a_change_in_a_transaction_that_rolls_back_changes_nothing_kept(env: Env) -> None:
    account_id = await env.add_account("alice")
    other = other_process(env)
    assert await other.is_active(account_id)

    class Abort(Exception):
        pass

    try:
        async with env.container.db.transaction() as session:
            await session.execute(update(Account).where(Account.id == account_id).values(status="locked"))
            raise Abort
    except Abort:
        pass
    assert await other.is_active(account_id)


async def test_a_change_made_outside_mandat_waits_for_the_keeping_time(env: Env) -> None:
    """Raw SQL is not seen by the ORM hooks: the contract is keep_seconds, and 0 reads every time."""
    account_id = await env.add_account("alice")
    other = other_process(env)
    assert await other.is_active(account_id)
    async with env.container.db.transaction() as session:
        await session.execute(text("UPDATE accounts SET status = 'locked' WHERE id = :id"), {"id": account_id})
    assert await other.is_active(account_id)
    assert not await other_process(env, keep_seconds=0).is_active(account_id)
