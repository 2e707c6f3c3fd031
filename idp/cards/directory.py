"""Professional directory: import an RPPS "PS_LibreAcces" extract, and find a professional by national id.

The import streams the file line by line (the national extract is ~2 million lines), upserts in batches of
`batch_size` lines per transaction, and is idempotent: a line identical to what is stored changes nothing
(not even `updated_at`). A bad line is reported with its line number and reason, then skipped; the import
goes on. The header decides where each column is, so column order and extra columns do not matter.
"""

from __future__ import annotations

import os
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from idp.cards.errors import NotInDirectory
from idp.cards.fields import (
    ACTIVITY_FIELDS,
    ACTIVITY_KEY,
    EXERCISE_FIELDS,
    EXERCISE_KEY,
    PROFESSIONAL_HEADERS,
    REQUIRED_HEADERS,
)
from idp.cards.luhn import RPPS_ID_TYPE, is_valid_rpps
from idp.cards.models import FIELD_MAX_LENGTH, Professional, ProfessionalActivity, ProfessionalExercise
from idp.db import Database
from idp.errors import MandatError

__all__ = ["DirectoryFormatError", "DirectoryRow", "ExtractColumns", "ImportSummary", "Rejection", "find_professional",
           "import_directory", "parse_rows", "read_header"]

MAX_REJECTIONS_KEPT = 1000
_LOADED = (selectinload(Professional.exercises).selectinload(ProfessionalExercise.activities),)


class DirectoryFormatError(MandatError):
    """The file as a whole is unusable (no header, a required column missing): nothing is imported."""


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str


@dataclass(slots=True)
class ImportSummary:
    imported: int = 0  # lines that added a professional, exercise or activity
    updated: int = 0  # lines that changed stored values
    unchanged: int = 0  # lines identical to what is stored
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)  # the first MAX_REJECTIONS_KEPT
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return self.imported + self.updated + self.unchanged + self.rejected

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTIONS_KEPT:
            self.rejections.append(Rejection(line, reason))


@dataclass(frozen=True, slots=True)
class DirectoryRow:
    line: int
    national_id: str
    rpps: str
    code_civilite: str
    exercise: dict[str, str]
    activity: dict[str, str] | None  # None: a professional line without any activity


def _normalise(header: str) -> str:
    # Extract vintages differ in case ("coord. Structure") and spacing; accents are kept as they are stable.
    return " ".join(unicodedata.normalize("NFC", header).casefold().split())


class ExtractColumns:
    """Where each column we use sits in this file, resolved once from the header."""

    def __init__(self, header: list[str]) -> None:
        positions = {_normalise(name): index for index, name in enumerate(header) if name.strip()}
        missing = [name for name in REQUIRED_HEADERS if _normalise(name) not in positions]
        if missing:
            raise DirectoryFormatError(f"not a PS_LibreAcces extract: missing column(s) {', '.join(missing)}")
        self.width = len(header)
        self._positions = positions
        self.exercise = self._indexes({f.attribute: f.header for f in EXERCISE_FIELDS})
        self.activity = self._indexes({f.attribute: f.header for f in ACTIVITY_FIELDS})
        self.professional = self._indexes(PROFESSIONAL_HEADERS)

    def _indexes(self, headers: dict[str, str]) -> list[tuple[str, int | None]]:
        return [(attribute, self._positions.get(_normalise(header))) for attribute, header in headers.items()]

    @staticmethod
    def pick(values: list[str], indexes: list[tuple[str, int | None]]) -> dict[str, str]:
        """Values by attribute; a column absent from this extract reads as empty."""
        return {attribute: "" if index is None else values[index].strip() for attribute, index in indexes}


def _parse_line(columns: ExtractColumns, values: list[str], line: int) -> DirectoryRow | str:
    """A row, or the reason it is rejected."""
    if len(values) != columns.width:
        return f"expected {columns.width} columns, found {len(values)}"
    too_long = next((v for v in values if len(v) > FIELD_MAX_LENGTH), None)
    if too_long is not None:
        return f"a value is longer than {FIELD_MAX_LENGTH} characters"
    identity = columns.pick(values, columns.professional)
    id_type, rpps, national_id = identity["id_type"], identity["rpps"], identity["national_id"]
    if id_type != RPPS_ID_TYPE:
        return f"identifier type {id_type!r} is not RPPS ({RPPS_ID_TYPE}); only RPPS professionals are imported"
    if not is_valid_rpps(rpps):
        return f"RPPS {rpps!r} is not 11 digits with a valid Luhn check digit"
    if national_id != RPPS_ID_TYPE + rpps:
        return f"national id {national_id!r} is not {RPPS_ID_TYPE!r} + RPPS {rpps!r}"
    exercise = columns.pick(values, columns.exercise)
    if not exercise["code_profession"]:
        return "Code profession is empty"
    if not exercise["nom_exercice"]:
        return "Nom d'exercice is empty"
    activity: dict[str, str] | None = columns.pick(values, columns.activity)
    if activity is not None and not any(activity.values()):
        activity = None
    return DirectoryRow(line, national_id, rpps, identity["code_civilite"], exercise, activity)


def read_header(stream: BinaryIO) -> tuple[ExtractColumns, int]:
    """Column positions from the first line, and its size in bytes. Raises DirectoryFormatError."""
    header_line = stream.readline()
    if not header_line:
        raise DirectoryFormatError("empty file")
    try:
        header = header_line.decode("utf-8-sig").rstrip("\r\n").split("|")
    except UnicodeDecodeError:
        raise DirectoryFormatError("the header is not UTF-8") from None
    return ExtractColumns(header), len(header_line)


def parse_rows(stream: BinaryIO, columns: ExtractColumns,
               summary: ImportSummary) -> Iterator[tuple[DirectoryRow | None, int]]:
    """Yield (row, or None when rejected or blank; bytes consumed) for each line after the header.

    Rejections are recorded in `summary` with their line number (the header is line 1).
    """
    for number, raw in enumerate(stream, start=2):
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            summary.reject(number, f"not UTF-8 (byte {exc.start})")
            yield None, len(raw)
            continue
        if not text.strip():
            yield None, len(raw)
            continue
        parsed = _parse_line(columns, text.split("|"), number)
        if isinstance(parsed, str):
            summary.reject(number, parsed)
            yield None, len(raw)
        else:
            yield parsed, len(raw)


def _assign(target: object, values: dict[str, str]) -> bool:
    """Set changed attributes only, so an identical line leaves the ORM object clean (no UPDATE)."""
    changed = False
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed = True
    return changed


async def _upsert_batch(session: AsyncSession, rows: list[DirectoryRow], summary: ImportSummary) -> None:
    ids = {row.national_id for row in rows}
    result = await session.execute(select(Professional).where(Professional.national_id.in_(ids)).options(*_LOADED))
    known = {p.national_id: p for p in result.scalars()}
    for row in rows:
        created = changed = False
        professional = known.get(row.national_id)
        if professional is None:
            professional = Professional(national_id=row.national_id, id_type=RPPS_ID_TYPE, rpps=row.rpps,
                                        code_civilite=row.code_civilite, family_name=row.exercise["nom_exercice"],
                                        given_name=row.exercise["prenom_exercice"], exercises=[])
            session.add(professional)
            known[row.national_id] = professional
            created = True
        else:
            changed |= _assign(professional, {"code_civilite": row.code_civilite})
        exercise_key = tuple(row.exercise[k] for k in EXERCISE_KEY)
        exercise = next((e for e in professional.exercises
                         if tuple(getattr(e, k) for k in EXERCISE_KEY) == exercise_key), None)
        if exercise is None:
            exercise = ProfessionalExercise(**row.exercise, position=len(professional.exercises), activities=[])
            professional.exercises.append(exercise)
            created = True
        else:
            changed |= _assign(exercise, row.exercise)
        if row.activity is not None:
            activity_key = tuple(row.activity[k] for k in ACTIVITY_KEY)
            activity = next((a for a in exercise.activities
                             if tuple(getattr(a, k) for k in ACTIVITY_KEY) == activity_key), None)
            if activity is None:
                exercise.activities.append(ProfessionalActivity(**row.activity, position=len(exercise.activities)))
                created = True
            else:
                changed |= _assign(activity, row.activity)
        if created:
            summary.imported += 1
        elif changed:
            summary.updated += 1
        else:
            summary.unchanged += 1


class _Progress:
    """A rich progress bar over bytes read, showing rows and rows/s; silent when disabled."""

    def __init__(self, enabled: bool, total_bytes: int, console: Console | None) -> None:
        self._started = time.perf_counter()
        self._rows = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]directory import"), BarColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[rows]:,} rows · {task.fields[rate]:,.0f} rows/s"), TimeRemainingColumn(),
                console=console, transient=False,
            )
            self._task = self._progress.add_task("import", total=total_bytes, rows=0, rate=0.0)

    def __enter__(self) -> _Progress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, size: int, rows: int) -> None:
        self._rows += rows
        if self._progress is not None and self._task is not None:
            rate = self._rows / max(time.perf_counter() - self._started, 1e-6)
            self._progress.update(self._task, advance=size, rows=self._rows, rate=rate)

    def report(self, rejection: Rejection) -> None:
        if self._progress is not None:
            self._progress.console.print(f"[yellow]line {rejection.line}[/]: {rejection.reason}")


async def import_directory(db: Database, path: Path, progress: bool = True, *, batch_size: int = 1000,
                           console: Console | None = None) -> ImportSummary:
    """Stream `path` into the directory tables and return the counts. Raises DirectoryFormatError."""
    summary = ImportSummary()
    started = time.perf_counter()
    batch: list[DirectoryRow] = []
    pending_bytes = pending_lines = reported = 0
    # The file is read synchronously on purpose: this is a batch job, and line reads are buffered and short.
    with path.open("rb") as stream, _Progress(progress, os.fstat(stream.fileno()).st_size, console) as bar:
        columns, header_size = read_header(stream)
        bar.advance(header_size, 0)
        for row, size in parse_rows(stream, columns, summary):
            pending_bytes += size
            pending_lines += 1
            if row is not None:
                batch.append(row)
            if len(batch) >= batch_size:
                async with db.bulk_transaction() as session:
                    await _upsert_batch(session, batch, summary)
                batch = []
            if len(summary.rejections) > reported:
                for rejection in summary.rejections[reported:]:
                    bar.report(rejection)
                reported = len(summary.rejections)
            if pending_lines >= 500 or row is None:
                bar.advance(pending_bytes, pending_lines)
                pending_bytes = pending_lines = 0
        if batch:
            async with db.bulk_transaction() as session:
                await _upsert_batch(session, batch, summary)
        bar.advance(pending_bytes, pending_lines)
    summary.seconds = time.perf_counter() - started
    return summary


async def find_professional(db: Database, national_id: str) -> Professional:
    """The directory record for a validated card, with exercises and activities loaded.

    Raises NotInDirectory: a valid card alone does not let someone in; the directory says who practises.
    """
    async with db.session() as session:
        result = await session.execute(
            select(Professional).where(Professional.national_id == national_id).options(*_LOADED)
        )
        professional = result.scalar_one_or_none()
    if professional is None:
        raise NotInDirectory(f"national id {national_id} not in the directory")
    return professional
