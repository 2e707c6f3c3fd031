"""Registry import: CSV and FHIR, bad rows reported by line and skipped, idempotent re-import, parental links."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from idp.db import Base, Database
from idp.enrollment.demo import demo_registry_rows
from idp.enrollment.models import RegistryLink, RegistryRecord
from idp.enrollment.registry_import import Rejection, import_registry
from idp.enrollment.registry_readers import CSV_COLUMNS, NAM_SYSTEMS, NIR_SYSTEMS
from tests.conftest import truncate_postgres
from tests.unit.enrollment.conftest import CITIZEN, TABLES

NIR_SYSTEM = sorted(NIR_SYSTEMS)[0]
NAM_SYSTEM = sorted(NAM_SYSTEMS)[0]


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """Both write paths: SQLite's upserts, PostgreSQL's COPY into a temporary table then one upsert."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'enrollment.db'}")
        async with database.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all, tables=TABLES)
    else:
        url = request.getfixturevalue("postgres_url")
        await truncate_postgres(url)
        database = Database(url)
    yield database
    await database.dispose()


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


async def count(db: Database, model: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_csv_import_then_reimport_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "registry.csv", list(demo_registry_rows(250)))
    first = await import_registry(db, path, "csv", progress=False, batch_size=64)
    assert (first.imported, first.updated, first.rejected) == (250, 0, 0)
    assert first.links_added == 25
    again = await import_registry(db, path, "csv", progress=False, batch_size=64)
    assert (again.imported, again.updated, again.unchanged, again.rejected, again.links_added) == (0, 0, 250, 0, 0)
    assert await count(db, RegistryRecord) == 250
    assert await count(db, RegistryLink) == 25


async def test_changed_rows_are_updated_and_their_links_replaced(db: Database, tmp_path: Path) -> None:
    rows = list(demo_registry_rows(20))
    await import_registry(db, write_csv(tmp_path / "a.csv", rows), "csv", progress=False)
    child = rows[9]
    assert child["parent_numbers"] == rows[8]["number"]
    rows[9] = child | {"address_line1": "1 place d'Youville", "parent_numbers": rows[7]["number"]}
    summary = await import_registry(db, write_csv(tmp_path / "b.csv", rows), "csv", progress=False)
    assert (summary.imported, summary.updated, summary.unchanged) == (0, 1, 19)
    async with db.session() as session:
        record = await session.scalar(select(RegistryRecord).where(RegistryRecord.number == child["number"]))
        parents = (await session.scalars(
            select(RegistryLink.parent_number).where(RegistryLink.child_number == child["number"]))).all()
    assert record is not None and record.address_line1 == "1 place d'Youville"
    assert parents == [rows[7]["number"]]


async def test_bad_csv_rows_are_reported_by_line_and_good_rows_kept(db: Database, tmp_path: Path) -> None:
    good = list(demo_registry_rows(3))
    rows = [
        good[0],
        CITIZEN | {"birth_date": "1990-05-18"},  # line 3: contradicts the NAM
        good[2],
        CITIZEN | {"sex": "Q"},  # line 5
        CITIZEN | {"card_expiry": "2028-13"},  # line 6
        CITIZEN | {"number": "295109912611194"},  # line 7: wrong NIR key
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    with path.open("a", encoding="utf-8") as out:
        out.write("too,few,columns\n")  # line 8
    seen: list[Rejection] = []
    summary = await import_registry(db, path, "csv", progress=False, on_reject=seen.append)
    assert summary.imported == 2
    assert [(r.line, r.field, r.reason) for r in seen] == [
        (3, "birth_date", "mismatch"),
        (5, "sex", "format"),
        (6, "card_expiry", "format"),
        (7, "number", "key"),
        (8, "row", "columns"),
    ]
    assert summary.rejected == 5 and summary.rejections == seen


async def test_quoted_multiline_field_keeps_line_numbers_right(db: Database, tmp_path: Path) -> None:
    rows = [CITIZEN | {"address_line2": "Bâtiment B\nescalier 3"}, CITIZEN | {"sex": "?"}]
    seen: list[Rejection] = []
    await import_registry(db, write_csv(tmp_path / "m.csv", rows), "csv", progress=False, on_reject=seen.append)
    assert [r.line for r in seen] == [4]


async def test_duplicate_number_in_one_batch_is_rejected(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dup.csv", [CITIZEN, CITIZEN | {"city": "Laval"}])
    seen: list[Rejection] = []
    summary = await import_registry(db, path, "csv", progress=False, on_reject=seen.append)
    assert summary.imported == 1
    assert [(r.line, r.reason, r.message) for r in seen] == [(3, "duplicate", "number already given at line 2")]


async def test_wrong_header_stops_with_line_one(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("numero,nom\n1,2\n", encoding="utf-8")
    summary = await import_registry(db, path, "csv", progress=False)
    assert summary.stopped is not None and summary.stopped.line == 1
    assert "numero" in str(summary.stopped)


def patient(row: dict[str, str], system: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": system, "value": row["number"], "period": {"end": row["card_expiry"]}},
            {"system": "urn:mandat:fhir:card-sequence", "value": row["card_sequence"]},
        ],
        "name": [{"use": "official", "family": row["family_name"], "given": row["given_names"].split()}],
        "birthDate": row["birth_date"],
        "gender": {"M": "male", "F": "female"}[row["sex"]],
        "address": [{"use": "home", "line": [row["address_line1"]], "postalCode": row["postal_code"],
                     "city": row["city"], "country": row["country"]}],
        "extension": [{"url": "urn:mandat:fhir:ins-qualified", "valueBoolean": True}],
    }


def bundle_text(entries: list[dict[str, Any]]) -> str:
    """Pretty-printed like real exports: one entry spans many lines, so line numbers are meaningful."""
    body = ",\n".join(json.dumps({"fullUrl": f"urn:uuid:{i}", "resource": e}, indent=1) for i, e in enumerate(entries))
    return '{"resourceType": "Bundle",\n "meta": {"lastUpdated": "2026-01-01T00:00:00Z"},\n "type": "collection",\n' \
        f' "entry": [\n{body}\n],\n "total": {len(entries)}\n}}\n'


async def test_fhir_bundle_with_bad_entries_and_parent_links(db: Database, tmp_path: Path) -> None:
    rows = list(demo_registry_rows(10))
    child, parent = rows[9], rows[8]
    system = lambda row: NAM_SYSTEM if row["number"][0].isalpha() else NIR_SYSTEM  # noqa: E731
    entries: list[dict[str, Any]] = [patient(row, system(row)) for row in rows]
    entries.insert(3, patient(rows[0] | {"birth_date": "1901-01-01"}, system(rows[0])))  # mismatch → rejected
    entries.insert(5, {"resourceType": "Observation"})
    entries.append({
        "resourceType": "RelatedPerson",
        "patient": {"identifier": {"system": system(child), "value": child["number"]}},
        "identifier": [{"system": system(parent), "value": parent["number"]}],
        "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                      "code": "MTH"}]}],
    })
    text = bundle_text(entries)
    path = tmp_path / "bundle.json"
    path.write_text(text, encoding="utf-8")
    seen: list[Rejection] = []
    summary = await import_registry(db, path, "fhir", progress=False, on_reject=seen.append)
    lines = text.splitlines()
    assert [(r.field, r.reason) for r in seen] == [("birth_date", "mismatch"), ("resourceType", "unsupported")]
    # Each rejection points at the line where its entry opens.
    assert [lines[r.line - 1] for r in seen] == ["{", "{"]
    assert '"1901-01-01"' in "".join(lines[seen[0].line - 1 : seen[0].line + 40])
    assert summary.stopped is None
    assert (summary.imported, summary.links_added) == (10, 1)
    async with db.session() as session:
        stored = await session.scalar(select(RegistryRecord).where(RegistryRecord.number == child["number"]))
    assert stored is not None and stored.qualified and stored.card_sequence == child["card_sequence"]
    again = await import_registry(db, path, "fhir", progress=False)
    assert (again.imported, again.updated, again.links_added) == (0, 0, 0)


async def test_broken_json_stops_at_its_line_and_keeps_earlier_rows(db: Database, tmp_path: Path) -> None:
    rows = list(demo_registry_rows(3))
    text = bundle_text([patient(r, NAM_SYSTEM if r["number"][0].isalpha() else NIR_SYSTEM) for r in rows])
    cut = text.rindex('"birthDate"')  # inside the last entry
    broken = text[:cut] + '"birthDate": 1990-01-01,' + text[cut:]
    path = tmp_path / "broken.json"
    path.write_text(broken, encoding="utf-8")
    for batch_size in (1, 1000):  # the rows read before the error are kept, whether or not their batch was full
        summary = await import_registry(db, path, "fhir", progress=False, batch_size=batch_size)
        assert summary.imported + summary.unchanged == 2
        assert summary.stopped is not None
        assert summary.stopped.line == broken[: broken.index("1990-01-01,")].count("\n") + 1
    assert await count(db, RegistryRecord) == 2


async def test_not_a_bundle_is_refused(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"resourceType": "Patient", "id": "x"}), encoding="utf-8")
    summary = await import_registry(db, path, "fhir", progress=False)
    assert summary.stopped is not None and "Bundle" in str(summary.stopped)


async def test_fhir_reader_streams_with_small_buffer() -> None:
    from idp.enrollment.registry_readers import _JsonStream

    text = '{"a": [1, 2, 3], "entry": [{"x": 12345678}, {"y": "' + "z" * 100 + '"}]}'
    stream = _JsonStream(io.StringIO(text), chunk_chars=7)
    stream.expect("{")
    assert stream.value()[1] == "a"
    stream.expect(":")
    assert stream.value()[1] == [1, 2, 3]
    stream.expect(",")
    assert stream.value()[1] == "entry"
    stream.expect(":")
    stream.expect("[")
    assert stream.value()[1] == {"x": 12345678}
    stream.expect(",")
    assert stream.value()[1] == {"y": "z" * 100}


async def test_progress_bar_output(db: Database, tmp_path: Path) -> None:
    from rich.console import Console

    out = io.StringIO()
    path = write_csv(tmp_path / "p.csv", [*demo_registry_rows(5), CITIZEN | {"sex": "?"}])
    await import_registry(db, path, "csv", console=Console(file=out, width=200, force_terminal=False))
    printed = out.getvalue()
    assert "rejected line 7: sex: sex must be M, F or X" in printed
    assert "rows/s" in printed


async def test_unknown_format(db: Database, tmp_path: Path) -> None:
    from idp.enrollment.errors import RegistryFormatError

    with pytest.raises(RegistryFormatError, match="xml"):
        await import_registry(db, tmp_path / "x", "xml", progress=False)
