"""Seeding and writing helpers for the fault tests, run in-process or as a separate process to be SIGKILLed.

`python -m tests.e2e.production.writers delegations N` (with the IdP's MANDAT_* environment) creates and revokes
proxy delegations between the seeded accounts in a loop, through the real DelegationService on PostgreSQL, as
the admin API does in a server (the audit log's background writer running); it prints `created <id>` /
`revoked <id>` once each change has committed, until killed.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from typing import Any

from sqlalchemy import select

from idp.audit import AuditLog
from idp.container import build_container
from idp.db import Database
from idp.settings import Settings


async def seed_activations(settings: Settings, count: int) -> list[tuple[str, str]]:
    """`count` registry records with a mailed code each: [(number, code)]."""
    from idp.enrollment.config import EnrollmentSettings
    from idp.enrollment.demo import demo_registry_rows
    from idp.enrollment.models import OutboxLetter, RegistryRecord
    from idp.enrollment.registry_rows import build_row
    from idp.enrollment.service import EnrollmentService

    container = build_container(settings)
    try:
        service = EnrollmentService(container.db, container.store, settings.domain(EnrollmentSettings.from_env),
                                    container.key("enrollment-codes"),
                                    hash_password=container.accounts.passwords.hash_sync)
        rows = [row for row in demo_registry_rows(count * 2, seed=7)][:count]
        numbers = []
        async with container.db.transaction() as session:
            for row in rows:
                record = RegistryRecord(**build_row(row).values())
                session.add(record)
                numbers.append(record)
            await session.flush()
            for record in numbers:
                await service._create_code(session, record, "enrol")
        async with container.db.session() as session:
            letters = (await session.scalars(select(OutboxLetter))).all()
        codes = {letter.registry_number: letter.code_text for letter in letters}
        return [(record.number, codes[record.number]) for record in numbers]
    finally:
        await container.close()


async def delegation_loop(settings: Settings, limit: int) -> None:
    from idp.delegation.config import DelegationSettings
    from idp.delegation.interfaces import Actor, DelegationRequest
    from idp.delegation.service import DelegationService
    from idp.store import MemoryStore

    db = Database(settings.database_url)
    audit = AuditLog(db)
    service = DelegationService(db, MemoryStore(), audit, settings.domain(DelegationSettings.from_env))
    admin = Actor.administrator("admin:fault-test")
    users = ["alice", "bob", "carol", "dave"]
    ids = {user: await service.account_id(user) for user in users}
    pairs = [(a, b) for a in users for b in users if a != b]
    await audit.start()  # as in a server: queued events are written every 0.2 s by the background writer
    try:
        for n, (principal, delegate) in zip(range(limit), itertools.cycle(pairs), strict=False):
            scopes: Any = ("profile",)
            created = await service.create(DelegationRequest(
                kind="proxy", principal_id=ids[principal], delegate_id=ids[delegate], scopes=scopes, context=None,
                valid_until=None, reason=f"fault test {n}"), admin)
            print("created", created.id, flush=True)
            await service.revoke(created.id, admin, "fault test")
            print("revoked", created.id, flush=True)
    finally:
        await audit.stop()
        await db.dispose()


if __name__ == "__main__":
    if sys.argv[1] == "delegations":
        asyncio.run(delegation_loop(Settings.from_env(), int(sys.argv[2])))
