"""Shared fixtures: settings matching the recorded ceremonies, a temp SQLite database, an in-memory store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from idp.accounts.models import Account
from idp.db import Base, Database
from idp.passkeys.config import PasskeySettings
from idp.passkeys.models import PasskeyUserHandle, WebAuthnCredential
from idp.passkeys.webauthn import from_b64url
from idp.store import MemoryStore
from tests.fixtures.webauthn import HERE, load

CHROMIUM_ROOT = (HERE / "chromium_attestation_root.pem").read_bytes()
VIRTUAL_AAGUID = "01020304-0506-0708-0102-030405060708"


def recorded_settings(**overrides: Any) -> PasskeySettings:
    """Settings for the origin and RP id the fixtures were recorded on (all share one recording run)."""
    origin = load("registration_none")["origin"]
    values: dict[str, Any] = {"rp_id": "localhost", "origins": (origin,)}
    values.update(overrides)
    return PasskeySettings(**values)


def response_json(record: dict[str, Any]) -> str:
    return json.dumps(record["response"])


def challenge_of(record: dict[str, Any]) -> bytes:
    return from_b64url(record["challenge"])


class ScriptedChallenges:
    """Challenge source handing out the recorded challenges in order, so recorded responses verify."""

    def __init__(self, *challenges: bytes) -> None:
        self._queue = list(challenges)

    def __call__(self) -> bytes:
        if not self._queue:
            raise AssertionError("the test began more ceremonies than it scripted challenges for")
        return self._queue.pop(0)

    def push(self, *challenges: bytes) -> None:
        self._queue.extend(challenges)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# Only what passkeys touch: other domains' tables (and their foreign keys) are not needed here.
PASSKEY_TABLES = (Account.__tablename__, PasskeyUserHandle.__tablename__, WebAuthnCredential.__tablename__)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'passkeys.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(
            Base.metadata.create_all,
            tables=[Base.metadata.tables[name] for name in PASSKEY_TABLES],
        )
    yield database
    await database.dispose()


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def store(monotonic: FakeMonotonic) -> Iterator[MemoryStore]:
    yield MemoryStore(clock=monotonic)


async def make_account(db: Database, username: str, *, kind: str = "citizen") -> Account:
    account = Account(username=username, kind=kind, given_name="Alice", family_name="Martin")
    async with db.transaction() as session:
        session.add(account)
    return account
