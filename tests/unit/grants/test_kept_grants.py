"""Grants kept per process (idp/stamped.py): a revocation in one process is seen at once by another (two stores
over one database and one ephemeral store stand for two processes), on both backends."""

from __future__ import annotations

from sqlalchemy import update

from idp.grants.models import GrantRecord
from idp.grants.service import SqlGrantStore
from idp.oidc.models import Grant
from tests.conftest import Env


async def new_grant(env: Env, grant_id: str) -> Grant:
    account_id = await env.add_account("alice")
    await env.add_client("rp")
    grant = Grant(id=grant_id, client_id="rp", account_id=account_id, scopes=("openid",), acr="eidas1",
                  amr=("pwd",), auth_time=0, sid="s1", expires_at=env.container.provider.clock() + 3600)
    await env.container.grants.create(grant, None, 0)
    return grant


def two_processes(env: Env) -> tuple[SqlGrantStore, SqlGrantStore]:
    db = env.container.db
    return SqlGrantStore(db, env.store, keep_seconds=3600), SqlGrantStore(db, env.store, keep_seconds=3600)


async def test_a_revocation_in_one_process_is_seen_at_once_by_another(env: Env) -> None:
    await new_grant(env, "g" * 43)
    first, second = two_processes(env)
    found = await second.get("g" * 43)
    assert found is not None and not found.revoked  # now kept by the second process
    await first.revoke("g" * 43, "test")
    again = await second.get("g" * 43)
    assert again is not None and again.revoked


async def test_a_revocation_for_an_account_inside_a_callers_transaction_counts_once_committed(env: Env) -> None:
    grant = await new_grant(env, "h" * 43)
    first, second = two_processes(env)
    assert not (await second.get(grant.id)).revoked  # type: ignore[union-attr]
    async with env.container.db.transaction():
        await first.revoke_for_account(grant.account_id, "test")
    kept = await second.get(grant.id)
    assert kept is not None and kept.revoked


async def test_a_change_made_outside_mandat_waits_for_the_keeping_time(env: Env) -> None:
    """The contract: only Mandat's own revocations renew the stamp; a hand edit is seen after keep_seconds."""
    grant = await new_grant(env, "k" * 43)
    _first, second = two_processes(env)
    assert not (await second.get(grant.id)).revoked  # type: ignore[union-attr]
    async with env.container.db.transaction() as session:
        await session.execute(update(GrantRecord).where(GrantRecord.id == grant.id).values(
            revoked_at=GrantRecord.created_at))
    assert not (await second.get(grant.id)).revoked  # type: ignore[union-attr]
    fresh = SqlGrantStore(env.container.db, env.store, keep_seconds=0)
    assert (await fresh.get(grant.id)).revoked  # type: ignore[union-attr]
