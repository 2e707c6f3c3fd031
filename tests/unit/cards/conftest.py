from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from idp.cards.config import CardSettings
from idp.cards.emulator import VirtualCpsCard
from idp.cards.models import Professional, ProfessionalActivity, ProfessionalExercise
from idp.cards.pki import ChainValidator
from idp.cards.testpki import DEMO_PROFESSIONALS, GeneratedPki, make_test_pki
from idp.db import Base, Database

PIN = "1234"
VALID_ID = DEMO_PROFESSIONALS[0].national_id
REVOKED_ID = next(p.national_id for p in DEMO_PROFESSIONALS if p.revoked)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> GeneratedPki:
    # RSA key generation dominates; one PKI serves every test that does not need its own.
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> GeneratedPki:
    """Same names as `pki`, different keys: what an attacker's look-alike CA produces."""
    return make_test_pki(tmp_path_factory.mktemp("other-pki"), DEMO_PROFESSIONALS[:1])


@pytest.fixture()
def card_settings(pki: GeneratedPki) -> CardSettings:
    return CardSettings.from_env({**pki.env(), "MANDAT_ISSUER": "https://idp.example"})


@pytest.fixture()
def validator(card_settings: CardSettings) -> ChainValidator:
    return ChainValidator.from_settings(card_settings)


@pytest.fixture()
def card(pki: GeneratedPki) -> VirtualCpsCard:
    return VirtualCpsCard.from_dir(pki.card_dirs[VALID_ID], PIN)


@pytest.fixture()
def revoked_card(pki: GeneratedPki) -> VirtualCpsCard:
    return VirtualCpsCard.from_dir(pki.card_dirs[REVOKED_ID], PIN)


@pytest.fixture()
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'cards.db'}")
    tables = [Professional.__table__, ProfessionalExercise.__table__, ProfessionalActivity.__table__]
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all, tables=tables)
    yield database
    await database.dispose()
