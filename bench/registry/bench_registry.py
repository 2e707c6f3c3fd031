"""Registry benchmark: import rows/s and enrollment lookup latency at N rows, on SQLite and PostgreSQL.

A report, not a test. It writes a synthetic registry CSV (`idp.enrollment.demo`), imports it twice (the second
run measures the idempotent re-import, which writes nothing), then times lookups at that size:

- `by number`: the indexed read `request_code` starts with;
- `request_code` matched and unmatched, through `EnrollmentService` with the timing floor set to 0 so the
  figures show the real work (production pads both to `MANDAT_ENROLLMENT_REQUEST_MIN_DURATION_MS`).

PostgreSQL runs in a database of its own (`mandat_bench`, created and dropped here) on the server given by
`--pg-url`. Usage:

    .venv/bin/python bench/registry/bench_registry.py --rows 100000 --backend both
    .venv/bin/python bench/registry/bench_registry.py --rows 1000000 --backend postgres
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
from sqlalchemy import select

from idp.accounts.models import Account
from idp.db import Base, Database
from idp.enrollment.config import EnrollmentSettings
from idp.enrollment.demo import demo_registry_rows
from idp.enrollment.interfaces import CodeRequest
from idp.enrollment.models import OutboxLetter, RegistryLink, RegistryRecord, SecurityCode
from idp.enrollment.registry_import import import_registry
from idp.enrollment.registry_readers import CSV_COLUMNS
from idp.enrollment.service import EnrollmentService
from idp.store import MemoryStore

TABLES = [t.__table__ for t in (Account, RegistryRecord, RegistryLink, SecurityCode, OutboxLetter)]
BENCH_DB = "mandat_bench"


def write_registry(path: Path, rows: int, samples: int) -> list[dict[str, str]]:
    """Write the CSV; keep `samples` evenly spread rows to look up afterwards."""
    step = max(rows // samples, 1)
    kept = []
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for index, row in enumerate(demo_registry_rows(rows)):
            writer.writerow(row)
            if index % step == 0 and len(kept) < samples:
                kept.append(row)
    return kept


def percentiles(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, round(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):7.2f} ms   p99 {p99:7.2f} ms   (n={len(ms)})"


def form(row: dict[str, str], *, miss: bool = False) -> CodeRequest:
    return CodeRequest(
        number=row["number"], family_name=row["family_name"], given_name=row["given_names"].split()[0],
        birth_date=row["birth_date"], card_sequence="000000000" if miss else row["card_sequence"],
        card_expiry=row["card_expiry"],
    )


async def run_backend(name: str, url: str, csv_path: Path, samples: list[dict[str, str]], batch: int | None) -> None:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all, tables=TABLES)
        await conn.run_sync(Base.metadata.create_all, tables=TABLES)
    print(f"\n== {name} ==")
    for label in ("import", "re-import"):
        summary = await import_registry(db, csv_path, "csv", progress=False, batch_size=batch)
        print(f"{label:10s} {summary.rows:>10,} rows in {summary.seconds:7.1f} s = {summary.rows_per_second:>8,.0f} "
              f"rows/s  (imported {summary.imported:,}, updated {summary.updated:,}, "
              f"unchanged {summary.unchanged:,}, rejected {summary.rejected:,}, links {summary.links_added:,})")

    numbers = [row["number"].replace(" ", "") for row in samples]
    timings = []
    async with db.session() as session:
        for number in numbers:
            started = time.perf_counter()
            await session.scalar(select(RegistryRecord).where(RegistryRecord.number == number))
            timings.append(time.perf_counter() - started)
    print(f"by number       {percentiles(timings)}")

    settings = EnrollmentSettings(request_min_duration_ms=0, ip_max_requests=10**9, number_max_requests=10**9,
                                  letters_per_number=10**9)
    service = EnrollmentService(db, MemoryStore(), settings, b"b" * 32, hash_password=str)
    for label, miss in (("request matched", False), ("request missed", True)):
        timings = []
        for row in samples:
            started = time.perf_counter()
            await service.request_code(form(row, miss=miss), "127.0.0.1")
            timings.append(time.perf_counter() - started)
        print(f"{label:15s} {percentiles(timings)}")
    await db.dispose()


async def with_pg_database(pg_url: str, csv_path: Path, samples: list[dict[str, str]], batch: int | None) -> None:
    admin_dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        await admin.execute(f"CREATE DATABASE {BENCH_DB}")
        bench_url = pg_url.rsplit("/", 1)[0] + f"/{BENCH_DB}"
        await run_backend("PostgreSQL", bench_url, csv_path, samples, batch)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=None, help="rows per batch (default: the import's own)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mandat-registry-") as tmp:
        csv_path = Path(tmp) / "registry.csv"
        started = time.perf_counter()
        samples = write_registry(csv_path, args.rows, args.lookups)
        random.Random(1).shuffle(samples)
        print(f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - started:.1f} s")
        if args.backend in ("sqlite", "both"):
            await run_backend("SQLite", f"sqlite+aiosqlite:///{tmp}/registry.db", csv_path, samples, args.batch)
        if args.backend in ("postgres", "both"):
            await with_pg_database(args.pg_url, csv_path, samples, args.batch)


if __name__ == "__main__":
    asyncio.run(main())
