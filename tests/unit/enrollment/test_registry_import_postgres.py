"""The registry import on PostgreSQL: batches run with custom plans and a re-import changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from idp.db import Database
from idp.enrollment.demo import write_demo_csv
from idp.enrollment.models import RegistryRecord
from idp.enrollment.registry_import import import_registry
from tests.conftest import truncate_postgres


async def test_import_then_reimport_on_postgresql(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = request.getfixturevalue("postgres_url")
    await truncate_postgres(url)
    path = tmp_path / "registry.csv"
    write_demo_csv(path, 2500)
    db = Database(url)
    try:
        first = await import_registry(db, path, "csv", progress=False, batch_size=500)
        again = await import_registry(db, path, "csv", progress=False, batch_size=500)
        async with db.session() as session:
            count = (await session.execute(select(func.count()).select_from(RegistryRecord))).scalar_one()
    finally:
        await db.dispose()
    assert first.imported == 2500 and first.rejected == 0
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2500)
    assert count == 2500
