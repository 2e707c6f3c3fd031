"""`DelegationService.check` keeps the rows it read while the shared stamp says they are current: a change made
through the service, or any ORM write to delegations or accounts in a `Database.transaction()`, in any process,
ends every kept row at once; raw SQL needs `changed()` (or waits `check_cache_seconds`). Two services over one
database and one store stand for two processes (on PostgreSQL the store is Redis, as in production)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text, update

from idp.accounts.models import Account
from idp.db import Database
from idp.delegation import errors
from idp.delegation.interfaces import Actor, DelegationRequest
from idp.delegation.models import Delegation
from idp.delegation.service import DelegationService
from idp.store import EphemeralStore, MemoryStore, RedisStore
from tests.conftest import REDIS_URL
from tests.unit.delegation.conftest import Rig

ADMIN = Actor.administrator("test")
KEEP = 3600.0  # long enough that only the stamp can end a kept row during a test


@pytest.fixture
async def store(db: Database) -> AsyncIterator[EphemeralStore]:
    shared: EphemeralStore = MemoryStore() if db.is_sqlite else RedisStore(
        REDIS_URL, prefix=f"test:{secrets.token_hex(6)}:")
    yield shared
    await shared.close()


def process(rig: Rig, store: EphemeralStore, keep: float = KEEP) -> DelegationService:
    return DelegationService(rig.db, store, rig.audit, rig.settings, rig.clock, check_cache_seconds=keep)


async def proxy(rig: Rig, service: DelegationService) -> tuple[str, str, str]:
    alice, bob = await rig.account("alice"), await rig.account("bob")
    view = await service.create(DelegationRequest("proxy", alice, bob, ("profile", "appointments.manage")), ADMIN)
    return view.id, alice, bob


async def revoke_behind_the_service(rig: Rig, delegation_id: str) -> None:
    """Raw SQL, which no ORM hook sees (as a hand edit or another program would write)."""
    async with rig.db.transaction() as session:
        await session.execute(text("UPDATE delegations SET status = 'revoked' WHERE id = :id"), {"id": delegation_id})


async def test_an_orm_write_to_delegations_in_any_transaction_is_seen_at_once(rig: Rig,
                                                                                store: EphemeralStore) -> None:
    first = process(rig, store)
    delegation, _alice, bob = await proxy(rig, first)
    await first.check(delegation, bob, None, rig.clock.now)
    async with rig.db.transaction() as session:
        await session.execute(update(Delegation).where(Delegation.id == delegation).values(status="revoked"))
    with pytest.raises(errors.DelegationRevoked):
        await first.check(delegation, bob, None, rig.clock.now)


async def test_a_revocation_in_one_process_ends_the_check_kept_by_another(rig: Rig, store: EphemeralStore) -> None:
    first, second = process(rig, store), process(rig, store)
    delegation, _alice, bob = await proxy(rig, first)
    assert (await first.check(delegation, bob, None, rig.clock.now)).scopes == {"profile", "appointments.manage"}
    await second.revoke(delegation, ADMIN, "ended")
    with pytest.raises(errors.DelegationRevoked):
        await first.check(delegation, bob, None, rig.clock.now)


async def test_a_kept_row_serves_until_changed_is_called(rig: Rig, store: EphemeralStore) -> None:
    first, second = process(rig, store), process(rig, store)
    delegation, _alice, bob = await proxy(rig, first)
    await first.check(delegation, bob, None, rig.clock.now)
    await revoke_behind_the_service(rig, delegation)
    # Kept: the change did not go through a service, so no stamp says the row is stale (this is the contract).
    assert (await first.check(delegation, bob, None, rig.clock.now)).scopes
    await second.changed()
    with pytest.raises(errors.DelegationRevoked):
        await first.check(delegation, bob, None, rig.clock.now)


async def test_an_account_locked_in_any_transaction_is_seen_at_once(rig: Rig, store: EphemeralStore) -> None:
    """Kept rows join accounts: a transaction writing the accounts table renews the stamp when it commits
    (Database.after_commit), whichever service wrote it."""
    first, _second = process(rig, store), process(rig, store)
    delegation, alice, bob = await proxy(rig, first)
    await first.check(delegation, bob, None, rig.clock.now)
    async with rig.db.transaction() as session:
        await session.execute(update(Account).where(Account.id == alice).values(status="locked"))
    with pytest.raises(errors.AccountInactive):
        await first.check(delegation, bob, None, rig.clock.now)


async def test_the_delegations_offered_are_kept_until_a_change_and_still_dated(rig: Rig,
                                                                               store: EphemeralStore) -> None:
    first, second = process(rig, store), process(rig, store)
    delegation, _alice, bob = await proxy(rig, first)
    assert [view.id for view in await first.active_for(bob, rig.clock.now)] == [delegation]
    view = (await first.active_for(bob, rig.clock.now))[0]
    assert view.valid_until is not None
    assert await first.active_for(bob, view.valid_until) == []  # past its end: not offered, kept or not
    await second.revoke(delegation, ADMIN, "ended")
    assert await first.active_for(bob, rig.clock.now) == []


async def test_without_keeping_every_check_reads_the_database(rig: Rig, store: EphemeralStore) -> None:
    service = process(rig, store, keep=0)
    delegation, _alice, bob = await proxy(rig, service)
    await service.check(delegation, bob, None, rig.clock.now)
    await revoke_behind_the_service(rig, delegation)
    with pytest.raises(errors.DelegationRevoked):
        await service.check(delegation, bob, None, rig.clock.now)


async def test_a_lost_stamp_is_replaced_and_kept_rows_are_not_trusted(rig: Rig, store: EphemeralStore) -> None:
    service = process(rig, store)
    delegation, _alice, bob = await proxy(rig, service)
    await service.check(delegation, bob, None, rig.clock.now)
    await store.delete("delegation:stamp")  # expired, or Redis restarted empty
    await revoke_behind_the_service(rig, delegation)
    with pytest.raises(errors.DelegationRevoked):
        await service.check(delegation, bob, None, rig.clock.now)


async def test_each_kind_of_change_through_the_service_ends_kept_rows(rig: Rig, store: EphemeralStore) -> None:
    """create, accept, decline, give up and consent all commit through the same path as revoke."""
    first, second = process(rig, store), process(rig, store)
    alice, bob = await rig.account("alice"), await rig.account("bob")
    pending = await second.create(DelegationRequest("proxy", alice, bob, ("profile",)), Actor.person(alice))
    with pytest.raises(errors.DelegationPending):
        await first.check(pending.id, bob, None, rig.clock.now)
    await second.accept(pending.id, Actor.person(bob))
    assert (await first.check(pending.id, bob, None, rig.clock.now)).scopes == {"profile"}
    await second.give_up(pending.id, Actor.person(bob))
    with pytest.raises(errors.DelegationRevoked):
        await first.check(pending.id, bob, None, rig.clock.now)


async def test_a_change_inside_a_callers_transaction_renews_the_stamp_when_it_commits(
        rig: Rig, store: EphemeralStore) -> None:
    """Renewing before the commit would let another process read the old row under the new stamp and keep it."""
    first, second = process(rig, store), process(rig, store)
    delegation, _alice, bob = await proxy(rig, first)
    await first.check(delegation, bob, None, rig.clock.now)
    await second.check(delegation, bob, None, rig.clock.now)
    before = await store.get("delegation:stamp")
    async with rig.db.transaction():
        await second.revoke(delegation, ADMIN, "ended")
        assert await store.get("delegation:stamp") == before  # not yet: nothing is committed
    # The process that made the change sees it at once; the others once the new stamp is written (just after).
    with pytest.raises(errors.DelegationRevoked):
        await second.check(delegation, bob, None, rig.clock.now)
    for _ in range(100):
        if await store.get("delegation:stamp") != before:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(errors.DelegationRevoked):
        await first.check(delegation, bob, None, rig.clock.now)
