"""Audit log: events are written in batches as a hash chain, and any edit of a past row is detected."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from idp.audit import GENESIS, AuditEvent, AuditLog, chain_hash, event_body, verify_chain
from tests.conftest import Env


async def rows(env: Env) -> list[AuditEvent]:
    async with env.container.db.session() as session:
        return list((await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())


async def test_events_are_flushed_as_a_valid_chain(env: Env) -> None:
    audit = env.container.audit
    for n in range(5):
        audit.record("test:event:recorded", actor=f"a{n}", client_id="rp", ip="203.0.113.7", n=n, empty=None)
    await audit.flush()
    written = [r for r in await rows(env) if r.tag == "test:event:recorded"]
    assert [r.actor for r in written] == ["a0", "a1", "a2", "a3", "a4"]
    assert written[0].detail == {"n": 0}  # None values are dropped
    assert written[1].prev_hash == written[0].hash
    assert await verify_chain(env.container.db) == (True, None)
    everything = await rows(env)
    assert everything[0].prev_hash == GENESIS
    assert all(chain_hash(r.prev_hash, event_body(r)) == r.hash for r in everything)


async def test_protocol_events_are_audited(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    await env.tokens_for()
    await env.container.audit.flush()
    tags = [r.tag for r in await rows(env)]
    for tag in ("accounts:login:succeeded", "oidc:consent:granted", "oidc:code:issued", "oidc:token:issued"):
        assert tag in tags


async def test_tampering_breaks_the_chain_at_that_row(env: Env) -> None:
    audit = env.container.audit
    for n in range(4):
        audit.record("test:event:recorded", actor="alice", n=n)
    await audit.flush()
    target = (await rows(env))[2]
    async with env.container.db.transaction() as session:
        await session.execute(update(AuditEvent).where(AuditEvent.id == target.id).values(actor="mallory"))
    assert await verify_chain(env.container.db) == (False, target.id)


async def test_deleting_a_row_breaks_the_chain_at_the_next(env: Env) -> None:
    audit = env.container.audit
    for n in range(4):
        audit.record("test:event:recorded", n=n)
    await audit.flush()
    written = await rows(env)
    async with env.container.db.transaction() as session:
        await session.delete(await session.get(AuditEvent, written[1].id))
    assert await verify_chain(env.container.db) == (False, written[2].id)


async def test_rehashing_a_tampered_row_still_breaks_the_chain(env: Env) -> None:
    audit = env.container.audit
    for n in range(3):
        audit.record("test:event:recorded", n=n)
    await audit.flush()
    first = (await rows(env))[0]
    body = {**event_body(first), "actor": "mallory"}
    async with env.container.db.transaction() as session:
        await session.execute(update(AuditEvent).where(AuditEvent.id == first.id).values(
            actor="mallory", hash=chain_hash(first.prev_hash, body)))
    later = (await rows(env))[1]
    assert await verify_chain(env.container.db) == (False, later.id)


async def test_two_writers_share_one_chain(env: Env) -> None:
    # Two processes' audit logs on one database (the head row serialises their batches).
    other = AuditLog(env.container.db)
    for n in range(20):
        env.container.audit.record("test:event:recorded", actor="one", n=n)
        other.record("test:event:recorded", actor="two", n=n)
    await asyncio.gather(env.container.audit.flush(), other.flush())
    assert len([r for r in await rows(env) if r.tag == "test:event:recorded"]) == 40
    assert await verify_chain(env.container.db) == (True, None)


async def test_client_credentials_tokens_are_counted_per_client_not_logged_one_by_one(sqlite_env: Env) -> None:
    await sqlite_env.add_client("machine", redirect_uris=[], scopes="api.read", grant_types=("client_credentials",))
    for _ in range(5):
        response = await sqlite_env.http.post("/token", data={"grant_type": "client_credentials"},
                                              auth=sqlite_env.auth("machine"))
        assert response.status_code == 200
    await sqlite_env.container.audit.flush()
    async with sqlite_env.container.db.session() as session:
        rows = (await session.scalars(select(AuditEvent).where(
            AuditEvent.tag == "oidc:client_credentials:issued"))).all()
    assert len(rows) == 1
    assert rows[0].client_id == "machine" and rows[0].detail["count"] == 5
    assert rows[0].detail["since"] <= rows[0].detail["until"]
    assert await verify_chain(sqlite_env.container.db) == (True, None)
