"""Audit events recorded inside a transaction commit with it, or not at all; others stay batched."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from idp.audit import AuditEvent, verify
from tests.conftest import Env


async def stored(env: Env, tag: str) -> int:
    async with env.container.db.session() as session:
        return int(await session.scalar(select(func.count()).where(AuditEvent.tag == tag)) or 0)


async def test_an_event_recorded_in_a_transaction_is_written_by_its_commit(env: Env) -> None:
    audit = env.container.audit
    async with env.container.db.transaction():
        audit.record("test:change:done", actor="a1", subject="s1")
        assert await stored(env, "test:change:done") == 0  # not before the commit
    # No flush: the commit wrote it, chained like any other.
    assert await stored(env, "test:change:done") == 1
    audit.record("test:outside:queued")
    assert await stored(env, "test:outside:queued") == 0
    await audit.flush()
    assert await stored(env, "test:outside:queued") == 1
    report = await verify(env.container.db)
    assert report.intact and report.events >= 2


async def test_an_event_recorded_in_a_rolled_back_transaction_is_never_written(env: Env) -> None:
    class Refused(Exception):
        pass

    with pytest.raises(Refused):
        async with env.container.db.transaction():
            env.container.audit.record("test:change:undone")
            raise Refused
    await env.container.audit.flush()
    assert await stored(env, "test:change:undone") == 0


async def test_concurrent_transactions_share_one_intact_chain(env: Env) -> None:
    import asyncio

    async def change(n: int) -> None:
        async with env.container.db.transaction():
            env.container.audit.record("test:concurrent", actor=str(n))
            await asyncio.sleep(0)

    await asyncio.gather(*(change(n) for n in range(20)))
    env.container.audit.record("test:concurrent", actor="queued")
    await env.container.audit.flush()
    assert await stored(env, "test:concurrent") == 21
    assert (await verify(env.container.db)).intact
