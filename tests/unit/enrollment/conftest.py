"""Shared fixtures: a temp SQLite database with the accounts and enrollment tables, a memory store, a clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from idp.accounts.models import Account
from idp.db import Base, Database
from idp.enrollment.models import OutboxLetter, RegistryLink, RegistryRecord, SecurityCode
from idp.enrollment.registry_rows import build_row

TABLES = [t.__table__ for t in (Account, RegistryRecord, RegistryLink, SecurityCode, OutboxLetter)]
T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
SECRET = b"k" * 32

# A consistent Québec citizen: NAM letters LEFE (Lefèbvre, Émilie), born 1990-05-17, female (+50 on the month).
CITIZEN: dict[str, str] = {
    "number": "LEFE 9055 1712",
    "card_sequence": "01",
    "card_expiry": "2028-03",
    "family_name": "Lefèbvre-D'Amour",
    "given_names": "Émilie Claire",
    "birth_date": "1990-05-17",
    "sex": "F",
    "address_line1": "12 rue Sainte-Catherine",
    "address_line2": "",
    "postal_code": "H2X 1Y4",
    "city": "Montréal",
    "country": "CA",
    "birthplace": "",
    "birthcountry": "",
    "qualified": "false",
    "parent_numbers": "",
}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'enrollment.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=TABLES)
    yield database
    await database.dispose()


async def add_record(db: Database, **overrides: Any) -> RegistryRecord:
    row = build_row(CITIZEN | overrides)
    record = RegistryRecord(**row.values())
    async with db.transaction() as session:
        session.add(record)
    return record
