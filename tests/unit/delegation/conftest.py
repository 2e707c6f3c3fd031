"""Delegation fixtures: a database on SQLite (tables from the models) and on PostgreSQL (migrated), the memory store,
an audit log, a settable clock, and helpers to add accounts, directory records and registry links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from idp.accounts.models import Account
from idp.audit import AuditEvent, AuditLog
from idp.cards.models import Professional, ProfessionalActivity, ProfessionalExercise
from idp.db import Database
from idp.delegation.config import DelegationSettings
from idp.delegation.service import DelegationService
from idp.enrollment.models import RegistryLink, RegistryRecord
from idp.models import metadata
from idp.store import MemoryStore
from tests.conftest import truncate_postgres

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'delegation.db'}")
        async with database.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    else:
        url = request.getfixturevalue("postgres_url")
        await truncate_postgres(url)
        database = Database(url)
    yield database
    await database.dispose()


class Rig:
    def __init__(self, db: Database, settings: DelegationSettings) -> None:
        self.db = db
        self.clock = Clock()
        self.audit = AuditLog(db)
        self.settings = settings
        self.service = DelegationService(db, MemoryStore(), self.audit, settings, self.clock)

    def with_settings(self, settings: DelegationSettings) -> DelegationService:
        return DelegationService(self.db, MemoryStore(), self.audit, settings, self.clock)

    async def account(self, username: str, kind: str = "citizen", *, birthdate: date | None = None,
                      national_id: str | None = None, password: bool = True, **extra: Any) -> str:
        account = Account(username=username, kind=kind, birthdate=birthdate, national_id=national_id,
                          password_hash="x" if password else None, given_name=username.title(), **extra)
        async with self.db.transaction() as session:
            session.add(account)
        return account.id

    async def professional(self, username: str, national_id: str, structures: list[str]) -> str:
        async with self.db.transaction() as session:
            session.add(Professional(national_id=national_id, id_type="8", rpps=national_id[1:]))
            await session.flush()
            exercise = ProfessionalExercise(national_id=national_id, code_profession="10")
            session.add(exercise)
            await session.flush()
            for position, structure in enumerate(structures):
                session.add(ProfessionalActivity(exercise_id=exercise.id, position=position,
                                                 identifiant_technique_structure=structure))
        return await self.account(username, "professional", national_id=national_id)

    async def registry_child(self, number: str, born: date, *parents: str) -> None:
        async with self.db.transaction() as session:
            session.add(RegistryRecord(number=number, kind="NIR", family_name="Martin", given_names="Léa",
                                       birth_date=born, sex="F", address_line1="1 rue X", postal_code="75001",
                                       city="Paris", country="FR", row_hash="h" * 64))
            for parent in parents:
                session.add(RegistryLink(child_number=number, parent_number=parent))

    async def events(self, prefix: str = "delegation:") -> list[AuditEvent]:
        await self.audit.flush()
        async with self.db.session() as session:
            rows = await session.scalars(select(AuditEvent).where(AuditEvent.tag.startswith(prefix))
                                         .order_by(AuditEvent.id))
            return list(rows)


@pytest.fixture
def fr() -> DelegationSettings:
    return DelegationSettings.for_jurisdiction("fr")


@pytest.fixture
def qc() -> DelegationSettings:
    return DelegationSettings.for_jurisdiction("qc")


@pytest.fixture
async def rig(db: Database, fr: DelegationSettings) -> Rig:
    return Rig(db, fr)
