"""Measure `DelegationService.check` with one principal (a clinic) holding 10,000 delegations.

    .venv/bin/python bench/delegation_check.py [DATABASE_URL] [--redis URL] [--json]

Default: a temporary SQLite file and the in-process store; `--redis` uses a RedisStore (several processes).
Migrates the database, inserts 10,000 accounts and delegations in bulk (one in ten revoked), then times
sequential `check` calls: cold (random live delegations, each read from the database for the first time) and warm
(300 of them checked ten times each, as a clinic's assistants use their tokens: answered from the rows `check`
keeps while the shared stamp is unchanged), median, p99 and calls per second; and `active_for`.
`--json` prints one JSON line instead (bench/run.py reads it). A report, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from idp.accounts.models import Account
from idp.audit import AuditLog
from idp.db import Database
from idp.delegation.config import DelegationSettings
from idp.delegation.models import Delegation
from idp.delegation.service import DelegationService
from idp.migrations import upgrade
from idp.store import EphemeralStore, MemoryStore, RedisStore

N = 10_000
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


async def main(url: str, redis_url: str | None, as_json: bool) -> None:
    db = Database(url)
    store: EphemeralStore = RedisStore(redis_url, prefix="bench-delegation:") if redis_url else MemoryStore()
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
    service = DelegationService(db, store, AuditLog(db), DelegationSettings.for_jurisdiction("fr"), lambda: NOW)
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
    # Warm: the same delegations checked again and again (a clinic's active assistants using their tokens), which
    # `check` answers from the rows it keeps while the shared stamp is unchanged (one store read each).
    working_set = ids[:300]
    warm = []
    for _round in range(10):
        for i in working_set:
            started = time.perf_counter()
            await service.check(f"d{i:031d}", f"s{i:031d}", frozenset({"mssante.read"}), NOW)
            warm.append(time.perf_counter() - started)
    warm.sort()
    warm_median, warm_p99 = statistics.median(warm), warm[int(len(warm) * 0.99)]
    started = time.perf_counter()
    for i in ids[:500]:
        await service.active_for(f"s{i:031d}", NOW)
    active_for = (time.perf_counter() - started) / 500
    backend = db.engine.dialect.name + (" + Redis" if redis_url else " + in-process store")
    if as_json:
        print(json.dumps({"backend": backend, "delegations": N, "checks": len(timings),
                          "p50_ms": round(median * 1e3, 4), "p99_ms": round(p99 * 1e3, 4),
                          "checks_per_s": round(len(timings) / sum(timings), 1),
                          "warm_p50_ms": round(warm_median * 1e3, 4), "warm_p99_ms": round(warm_p99 * 1e3, 4),
                          "warm_checks_per_s": round(len(warm) / sum(warm), 1),
                          "active_for_ms": round(active_for * 1e3, 4)}))
    else:
        print(f"{backend}: check at {N:,} delegations of one principal: median {median * 1e3:.3f} ms, "
              f"p99 {p99 * 1e3:.3f} ms, {len(timings) / sum(timings):,.0f} checks/s (sequential)")
        print(f"{backend}: warm (300 delegations checked 10 times each): median {warm_median * 1e3:.3f} ms, "
              f"p99 {warm_p99 * 1e3:.3f} ms, {len(warm) / sum(warm):,.0f} checks/s")
        print(f"{backend}: active_for: {active_for * 1e3:.3f} ms")
    await store.close()
    await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--redis", help="Redis URL for the store (default: in-process)")
    parser.add_argument("--json", action="store_true", help="one JSON line")
    args = parser.parse_args()
    target = args.url or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    upgrade(target)
    asyncio.run(main(target, args.redis, args.json))
