"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from idp.db import make_engine
from idp.models import metadata
from tests.conftest import in_thread


def _diff(url: str) -> list[Any]:
    async def run() -> list[Any]:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                                  metadata))
        finally:
            await engine.dispose()

    result: list[Any] = asyncio.run(run())
    return result


def test_sqlite_schema_matches_models(sqlite_template: Any) -> None:
    assert _diff(f"sqlite+aiosqlite:///{sqlite_template}") == []


def test_postgresql_schema_matches_models(request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("postgres_url")
    assert in_thread(_diff, url) == []
