"""The demo delegations `make run` seeds (idp/delegation/demo.py), through the real `seed` on both backends: the
secretary's assistant delegation, the Québec parent's guardian delegation from the registry, bob as alice's proxy,
and the demo clients allowed the `delegations` scope and token exchange; idempotent, and catching up on a
database seeded before."""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from idp.cards import demo as cards_demo
from idp.cards.testpki import make_test_pki
from idp.clients.models import ClientRecord
from idp.container import Container, build_container
from idp.delegation import demo as delegation_demo
from idp.delegation.config import DelegationSettings
from idp.delegation.demo import ASSISTANT_SCOPES, DEMO_DOCTOR, DEMO_SECRETARY, PORTAL_SCOPES, PROXY_SCOPES
from idp.delegation.interfaces import Actor, DelegationFilter, DelegationView
from idp.delegation.service import DelegationService
from idp.demo.seed import DEMO_PASSWORD, PORTAL_CLIENT_ID, PRO_PORTAL_CLIENT_ID, seed
from idp.enrollment.demo import DEMO_CHILD, DEMO_PARENT
from idp.oidc.models import TOKEN_EXCHANGE
from idp.settings import Settings
from tests.conftest import make_settings, truncate_postgres


@pytest.fixture(scope="session")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo test PKI, made once (RSA keys are slow); each test copies it under its keys folder."""
    folder = tmp_path_factory.mktemp("demo-pki") / "cards-demo"
    make_test_pki(folder)
    return folder


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        shutil.copy(sqlite_template, tmp_path / "demo.db")
        yield f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    else:
        url: str = request.getfixturevalue("postgres_url")
        await truncate_postgres(url)
        yield url


def demo_settings(tmp_path: Path, database_url: str, demo_pki: Path, *, cards: bool = True, **extra: str) -> Settings:
    """Settings as `make run` builds them: demo mode and, with `cards`, the demo PKI trusted."""
    settings = make_settings(tmp_path, database_url, MANDAT_DEMO="true", **extra)
    if not cards:
        return settings
    settings.keys_path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(demo_pki, cards_demo.demo_pki_dir(settings), dirs_exist_ok=True)
    card_env = cards_demo.demo_env(settings, Console(quiet=True))
    assert card_env
    return Settings.from_env({**settings.environ, **card_env})


class Seeded:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.service = DelegationService(container.db, container.store, container.audit,
                                         container.settings.domain(DelegationSettings.from_env))

    async def account_id(self, username: str) -> str:
        account = await self.container.accounts.by_username(username)
        assert account is not None, username
        return account.id

    async def delegations(self, kind: str) -> list[DelegationView]:
        return await self.service.find(DelegationFilter(kind=kind))

    async def states(self) -> list[tuple[str, str]]:
        return sorted((view.id, view.status) for view in await self.service.find(DelegationFilter()))

    async def client(self, client_id: str) -> ClientRecord:
        async with self.container.db.session() as session:
            record = await session.get(ClientRecord, client_id)
        assert record is not None
        return record


@asynccontextmanager
async def open_seeded(settings: Settings) -> AsyncIterator[Seeded]:
    container = build_container(settings)
    try:
        yield Seeded(container)
    finally:
        await container.close()


async def test_make_run_seeds_the_three_delegations_and_the_clients(
        tmp_path: Path, database_url: str, demo_pki: Path) -> None:
    settings = demo_settings(tmp_path, database_url, demo_pki)
    printed = io.StringIO()
    assert await seed(settings, console=Console(file=printed, width=200))
    assert "Demo delegation created: assistant" in printed.getvalue()
    async with open_seeded(settings) as seeded:
        accounts = seeded.container.accounts
        secretary = await accounts.by_username(DEMO_SECRETARY["username"])
        assert secretary is not None and secretary.kind == "staff" and secretary.given_name == "Sophie"
        doctor = await accounts.by_username(DEMO_DOCTOR.national_id)
        # As her first card sign-in would have made it (idp/cards/service.py: CardSignIn.account_for).
        assert doctor is not None and doctor.kind == "professional" and doctor.password_hash is None
        assert doctor.national_id == DEMO_DOCTOR.national_id and doctor.family_name == DEMO_DOCTOR.family_name
        for username in (DEMO_SECRETARY["username"], DEMO_PARENT["number"], "bob"):
            assert (await accounts.login_with_password(username, DEMO_PASSWORD, "127.0.0.1")).account is not None

        [assistant] = await seeded.delegations("assistant")
        assert (assistant.principal_id, assistant.delegate_id) == (doctor.id, secretary.id)
        assert assistant.status == "active" and assistant.source == "admin"
        assert assistant.context == DEMO_DOCTOR.structure
        assert assistant.scopes == tuple(sorted(ASSISTANT_SCOPES))

        parent = await accounts.by_username(DEMO_PARENT["number"])
        assert parent is not None and parent.kind == "citizen" and parent.national_id == DEMO_PARENT["number"]
        assert parent.birthdate == date(1990, 5, 17) and parent.family_name == DEMO_PARENT["family_name"]
        assert parent.identity is not None and "verified_claims" in parent.identity  # as activation sets it
        [guardian] = await seeded.delegations("guardian")
        child = await accounts.by_username(DEMO_CHILD["number"])
        assert child is not None and child.password_hash is None and (child.identity or {})["managed"] == "registry"
        assert (guardian.principal_id, guardian.delegate_id) == (child.id, parent.id)
        assert guardian.status == "active" and guardian.source == "registry"
        # France (the default): until the child's 18th birthday, local midnight.
        assert guardian.valid_until == datetime.combine(date(2034, 8, 3), time.min, tzinfo=ZoneInfo("Europe/Paris"))

        [proxy] = await seeded.delegations("proxy")
        assert (proxy.principal_id, proxy.delegate_id) == (await seeded.account_id("alice"),
                                                           await seeded.account_id("bob"))
        assert proxy.status == "active" and proxy.scopes == tuple(sorted(PROXY_SCOPES))
        # alice is told that an administrator created it.
        [notice] = await seeded.service.notifications(proxy.principal_id)
        assert notice.event == "delegation:created" and notice.delegation_id == proxy.id

        for client_id in (PORTAL_CLIENT_ID, PRO_PORTAL_CLIENT_ID):
            client = await seeded.container.clients.get(client_id)
            assert client is not None and set(PORTAL_SCOPES) <= client.scopes
            assert TOKEN_EXCHANGE in client.grant_types and "authorization_code" in client.grant_types
        pro = await seeded.container.clients.get(PRO_PORTAL_CLIENT_ID)
        assert pro is not None and {"scope_all", "rpps"} <= pro.scopes  # its own scopes are kept


async def test_seeding_again_changes_nothing(tmp_path: Path, database_url: str, demo_pki: Path) -> None:
    settings = demo_settings(tmp_path, database_url, demo_pki)
    assert await seed(settings, console=Console(quiet=True))
    async with open_seeded(settings) as seeded:
        before = await seeded.states()
        scopes = (await seeded.client(PORTAL_CLIENT_ID)).scopes
    assert not await seed(settings, console=Console(quiet=True))  # `make run` on a seeded database…
    printed = io.StringIO()
    await delegation_demo.seed_existing(settings, Console(file=printed, width=200))  # …then catches up
    assert "created" not in printed.getvalue()
    async with open_seeded(settings) as seeded:
        assert await seeded.states() == before and len(before) == 3
        assert (await seeded.client(PORTAL_CLIENT_ID)).scopes == scopes
        outcome = await delegation_demo.seed_delegations(seeded.container)
        assert not outcome.created and not outcome.clients and len(outcome.kept) == 3 and not outcome.skipped


async def test_a_database_seeded_before_delegation_catches_up(
        tmp_path: Path, database_url: str, demo_pki: Path) -> None:
    settings = demo_settings(tmp_path, database_url, demo_pki)
    assert await seed(settings, console=Console(quiet=True))
    async with open_seeded(settings) as seeded:
        # Undo what the delegation seeder did to the clients, and revoke its delegations as a demo user would.
        async with seeded.container.db.transaction() as session:
            for client_id in (PORTAL_CLIENT_ID, PRO_PORTAL_CLIENT_ID):
                record = await session.get(ClientRecord, client_id)
                assert record is not None
                record.scopes = " ".join(s for s in record.scopes.split() if s not in PORTAL_SCOPES)
                record.grant_types = ["authorization_code", "refresh_token"]
        revoked = {}
        for kind in ("assistant", "proxy"):
            [view] = await seeded.delegations(kind)
            revoked[kind] = (await seeded.service.revoke(view.id, Actor.person(view.principal_id), "demo")).id
        [guardian] = await seeded.delegations("guardian")
    await delegation_demo.seed_existing(settings, Console(quiet=True))
    async with open_seeded(settings) as seeded:
        for client_id in (PORTAL_CLIENT_ID, PRO_PORTAL_CLIENT_ID):
            record = await seeded.client(client_id)
            assert set(PORTAL_SCOPES) <= set(record.scopes.split()) and TOKEN_EXCHANGE in record.grant_types
        for kind in ("assistant", "proxy"):
            views = {v.id: v.status for v in await seeded.delegations(kind)}
            assert views.pop(revoked[kind]) == "revoked"
            assert list(views.values()) == ["active"]  # a fresh one, so the walkthrough can be replayed
        assert [(v.id, v.status) for v in await seeded.delegations("guardian")] == [(guardian.id, "active")]


async def test_quebec_guardian_ends_at_14(tmp_path: Path, database_url: str, demo_pki: Path) -> None:
    settings = demo_settings(tmp_path, database_url, demo_pki, MANDAT_JURISDICTION="qc")
    assert await seed(settings, console=Console(quiet=True))
    async with open_seeded(settings) as seeded:
        [guardian] = await seeded.delegations("guardian")
        assert guardian.valid_until == datetime.combine(date(2030, 8, 3), time.min,
                                                        tzinfo=ZoneInfo("America/Toronto"))


async def test_without_card_sign_in_the_assistant_is_skipped_and_said(
        tmp_path: Path, sqlite_template: Path, demo_pki: Path) -> None:
    shutil.copy(sqlite_template, tmp_path / "demo.db")
    settings = demo_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", demo_pki, cards=False)
    printed = io.StringIO()
    assert await seed(settings, console=Console(file=printed, width=300))
    assert f"assistant: professional {DEMO_DOCTOR.national_id} is not in the directory" in printed.getvalue()
    async with open_seeded(settings) as seeded:
        assert await seeded.delegations("assistant") == []
        assert len(await seeded.delegations("guardian")) == 1 and len(await seeded.delegations("proxy")) == 1
