"""`registry import FILE`: stream an insurer registry (CSV or FHIR R4 Bundle) into registry_records, in batches.

- **Streams**: the readers (registry_readers.py) hold one row or entry at a time, so 1,000,000 rows cost the
  memory of one batch.
- **Idempotent**: each batch first reads the stored `row_hash` of its numbers (one indexed query), then upserts
  only new and changed rows (`INSERT … ON CONFLICT (number) DO UPDATE`, PostgreSQL and SQLite alike). Re-importing
  the same file therefore writes nothing and reports 0 imported, 0 updated.
- **Forgiving**: a bad row is reported with its line number and reason and skipped; the good rows around it are
  kept. Each batch is its own transaction, so an interrupted import keeps what it did and a re-run finishes it.
- **Parental links**: a CSV row's `parent_numbers` replace that child's links when the row is new or changed;
  FHIR RelatedPerson entries add links (a FHIR import never removes one, as links are separate resources there).
  Within one batch a number seen twice keeps its first row; the second is rejected as a duplicate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from idp.db import Database, utcnow
from idp.enrollment.errors import FieldError, RegistryFormatError
from idp.enrollment.models import RegistryLink, RegistryRecord
from idp.enrollment.registry_readers import RegistryItem, open_registry, read_csv, read_fhir
from idp.enrollment.registry_rows import ParentLink, RegistryRow

__all__ = ["ImportSummary", "Rejection", "import_registry"]

RegistryFormat = Literal["csv", "fhir"]
_KEPT_REJECTIONS = 1000  # the summary keeps the first ones; every one is still reported as it happens


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass(slots=True)
class ImportSummary:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    links_added: int = 0
    seconds: float = 0.0
    rejections: list[Rejection] = field(default_factory=list)
    stopped: RegistryFormatError | None = None  # set when the file could not be read to its end

    @property
    def rows(self) -> int:
        return self.imported + self.updated + self.unchanged + self.rejected

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _reader(fmt: str) -> Callable[[TextIO], Iterator[tuple[int, RegistryItem]]]:
    if fmt == "csv":
        return read_csv
    if fmt == "fhir":
        return read_fhir
    raise RegistryFormatError(f"unknown format {fmt!r}: use csv or fhir")


class _Batcher:
    """Accumulates rows and links and writes them in one transaction per batch."""

    def __init__(self, db: Database, fmt: str, summary: ImportSummary, reject: Callable[[Rejection], None]) -> None:
        self._db = db
        self._replace_links = fmt == "csv"
        self._summary = summary
        self._reject = reject
        self._dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        self.rows: dict[str, RegistryRow] = {}
        self._first_line: dict[str, int] = {}
        self.links: list[ParentLink] = []

    def add(self, line: int, item: RegistryRow | ParentLink) -> None:
        if isinstance(item, ParentLink):
            self.links.append(item)
            return
        if item.number in self.rows:
            first = self._first_line[item.number]
            self._reject(Rejection(line, "number", "duplicate", f"number already given at line {first}"))
            return
        self.rows[item.number] = item
        self._first_line[item.number] = line

    def __len__(self) -> int:
        return len(self.rows) + len(self.links)

    async def flush(self) -> None:
        if not self:
            return
        async with self._db.bulk_transaction() as session:
            await self._write_rows(session)
            await self._write_links(session)
        self.rows, self._first_line, self.links = {}, {}, []

    async def _write_rows(self, session: AsyncSession) -> None:
        if not self.rows:
            return
        result = await session.execute(
            select(RegistryRecord.number, RegistryRecord.row_hash).where(RegistryRecord.number.in_(self.rows))
        )
        stored: dict[str, str] = {number: row_hash for number, row_hash in result}
        changed = [row for number, row in self.rows.items() if stored.get(number) != row.row_hash]
        self._summary.unchanged += len(self.rows) - len(changed)
        if not changed:
            return
        now = utcnow()
        insert = self._dialect.insert(RegistryRecord.__table__)
        columns = list(changed[0].values())
        upsert = insert.on_conflict_do_update(
            index_elements=["number"],
            set_={name: insert.excluded[name] for name in columns if name != "number"} | {"updated_at": now},
        )
        await session.execute(upsert, [row.values() | {"imported_at": now, "updated_at": now} for row in changed])
        updated = [row.number for row in changed if row.number in stored]
        self._summary.updated += len(updated)
        self._summary.imported += len(changed) - len(updated)
        if self._replace_links:
            if updated:
                await session.execute(delete(RegistryLink).where(RegistryLink.child_number.in_(updated)))
            self.links.extend(ParentLink(row.number, parent) for row in changed for parent in row.parents)

    async def _write_links(self, session: AsyncSession) -> None:
        if not self.links:
            return
        now = utcnow()
        values: list[dict[str, Any]] = [
            {"child_number": link.child_number, "parent_number": link.parent_number, "created_at": now}
            for link in dict.fromkeys(self.links)
        ]
        statement = self._dialect.insert(RegistryLink.__table__).values(values).on_conflict_do_nothing()
        result = await session.execute(statement)
        self._summary.links_added += max(getattr(result, "rowcount", 0), 0)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]registry import"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:>10,} rows"),
        TextColumn("{task.fields[rate]:>8,.0f} rows/s"),
        TextColumn("{task.fields[rejected]:,} rejected"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


async def import_registry(
    db: Database,
    path: Path,
    fmt: str,
    *,
    progress: bool = True,
    batch_size: int = 1000,
    on_reject: Callable[[Rejection], None] | None = None,
    console: Console | None = None,
) -> ImportSummary:
    """Import `path` (format "csv" or "fhir"); return counts. Bad rows go to `on_reject` (and the console)."""
    read = _reader(fmt)
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    console = console or Console(stderr=True)
    summary = ImportSummary()

    def reject(rejection: Rejection) -> None:
        summary.rejected += 1
        if len(summary.rejections) < _KEPT_REJECTIONS:
            summary.rejections.append(rejection)
        if on_reject is not None:
            on_reject(rejection)
        if progress:
            console.print(f"[yellow]rejected[/] {rejection}", highlight=False)

    batcher = _Batcher(db, fmt, summary, reject)
    started = time.perf_counter()
    # Reading the file is blocking I/O on the event loop: this runs as a CLI command with nothing else to serve.
    stream = open_registry(path)
    total = os.fstat(stream.fileno()).st_size
    bar = _progress(console)
    task = bar.add_task("import", total=total, rows=0, rate=0.0, rejected=0)
    if progress:
        bar.start()
    try:
        for line, item in read(stream):
            if isinstance(item, FieldError):
                reject(Rejection(line, item.field, item.reason, str(item)))
            else:
                batcher.add(line, item)
            if len(batcher) >= batch_size:
                await batcher.flush()
                elapsed = time.perf_counter() - started
                bar.update(task, completed=stream.buffer.tell(), rows=summary.rows,
                           rate=summary.rows / elapsed, rejected=summary.rejected)
        await batcher.flush()
    except RegistryFormatError as exc:
        await batcher.flush()
        summary.stopped = exc
        if progress:
            console.print(f"[red]stopped[/] {exc}", highlight=False)
    finally:
        stream.close()
        summary.seconds = time.perf_counter() - started
        bar.update(task, completed=total, rows=summary.rows, rate=summary.rows_per_second, rejected=summary.rejected)
        if progress:
            bar.stop()
    return summary
