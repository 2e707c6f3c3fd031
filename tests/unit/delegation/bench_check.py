"""Measure `DelegationService.check` with one principal (a clinic) holding 10,000 delegations.

    .venv/bin/python -m tests.unit.delegation.bench_check [DATABASE_URL]

Default: a temporary SQLite file. Migrates the database, inserts 10,000 accounts and delegations in bulk, then
times sequential `check` calls on random delegations (median, p99, calls per second) and `active_for`.
Not collected by pytest (no timed assertions in tests).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from idp.accounts.models import Account
from idp.audit import AuditLog
from idp.db import Database
from idp.delegation.config import DelegationSettings
from idp.delegation.models import Delegation
from idp.delegation.service import DelegationService
from idp.migrations import upgrade
from idp.store import MemoryStore

N = 10_000
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


async def main(url: str) -> None:
    db = Database(url)
    clinic = "c" * 32
    async with db.transaction() as session:
        await session.execute(insert(Account), [{"id": clinic, "username": "clinic", "kind": "professional"}]
                              + [{"id": f"s{i:031d}", "username": f"staff{i}", "kind": "staff"} for i in range(N)])
        await session.execute(insert(Delegation), [
            {"id": f"d{i:031d}", "principal_id": clinic, "delegate_id": f"s{i:031d}", "kind": "assistant",
             "scopes": ["mssante.read", "appointments.manage", "profile"], "context": "S1",
             "valid_from": NOW - timedelta(days=1), "valid_until": NOW + timedelta(days=300),
             "status": "active" if i % 10 else "revoked", "source": "admin", "created_by": "bench",
             "created_at": NOW, "updated_at": NOW} for i in range(N)])
    service = DelegationService(db, MemoryStore(), AuditLog(db), DelegationSettings.for_jurisdiction("fr"),
                                lambda: NOW)
    ids = [random.randrange(1, N) for _ in range(3000)]
    ids = [i for i in ids if i % 10]
    for i in ids[:200]:  # warm the pool and the statement cache
        await service.check(f"d{i:031d}", f"s{i:031d}", frozenset({"mssante.read"}), NOW)
    timings = []
    for i in ids:
        started = time.perf_counter()
        await service.check(f"d{i:031d}", f"s{i:031d}", frozenset({"mssante.read"}), NOW)
        timings.append(time.perf_counter() - started)
    timings.sort()
    median, p99 = statistics.median(timings), timings[int(len(timings) * 0.99)]
    print(f"{db.engine.dialect.name}: check at {N:,} delegations of one principal: median {median * 1e3:.3f} ms, "
          f"p99 {p99 * 1e3:.3f} ms, {len(timings) / sum(timings):,.0f} checks/s (sequential)")
    started = time.perf_counter()
    for i in ids[:500]:
        await service.active_for(f"s{i:031d}", NOW)
    print(f"{db.engine.dialect.name}: active_for: {(time.perf_counter() - started) / 500 * 1e3:.3f} ms")
    await db.dispose()


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    upgrade(target)
    asyncio.run(main(target))
