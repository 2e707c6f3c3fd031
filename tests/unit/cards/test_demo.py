"""Demo card sign-in: the test PKI under the keys folder, the directory and portal scopes, the in-process agent."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import httpx
from rich.console import Console

from idp.cards.demo import DEMO_PIN, agent_server, demo_env, demo_pki_dir, seed_existing
from idp.cards.directory import find_professional
from idp.cards.testpki import GeneratedPki
from idp.container import build_container
from idp.settings import Settings
from tests.conftest import make_settings

from .conftest import VALID_ID


def demo_settings(tmp_path: Path, sqlite_template: Path, **extra: str) -> Settings:
    db_path = tmp_path / "demo.db"
    shutil.copy(sqlite_template, db_path)
    return make_settings(tmp_path, f"sqlite+aiosqlite:///{db_path}", MANDAT_DEMO="true", **extra)


async def test_demo_enables_cards_seeds_the_directory_and_serves_the_virtual_card(
        tmp_path: Path, sqlite_template: Path) -> None:
    settings = demo_settings(tmp_path, sqlite_template)
    printed = io.StringIO()
    console = Console(file=printed)
    env = demo_env(settings, console)
    assert env["MANDAT_CARDS_TRUST_ANCHORS"] == str(demo_pki_dir(settings) / "trust-anchors.pem")
    assert demo_env(settings, console) == env  # reused, not regenerated
    enabled = Settings.from_env({**settings.environ, **env})

    container = build_container(enabled)
    try:
        await container.clients.register(client_id="demo-portal", redirect_uris=["http://localhost:8001/callback"],
                                         scopes=["openid", "profile"])
    finally:
        await container.close()
    await seed_existing(enabled, console)
    await seed_existing(enabled, console)  # idempotent
    container = build_container(enabled)
    try:
        assert (await find_professional(container.db, VALID_ID)).family_name == "MEDECIN"
        client = await container.clients.get("demo-portal")
        assert client is not None and {"scope_all", "rpps", "identity", "openid"} <= client.scopes
    finally:
        await container.close()
    assert f"PIN {DEMO_PIN}" in printed.getvalue()

    server = agent_server(enabled)
    assert server is not None and server.config.host == "127.0.0.1" and server.config.port == 24365
    agent = server.config.app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=agent), base_url="http://127.0.0.1:24365",
                                 headers={"Origin": "http://localhost:8000"}) as http:
        status = (await http.get("/status")).json()
        signed = await http.post("/sign", json={"challenge": "c" * 43, "pin": DEMO_PIN})
    assert status["card_present"] is True
    assert signed.status_code == 200 and signed.json()["alg"] == "RS256"


def test_configured_cards_are_left_alone(tmp_path: Path, sqlite_template: Path, pki: GeneratedPki) -> None:
    settings = demo_settings(tmp_path, sqlite_template, **pki.env())
    assert demo_env(settings, Console(quiet=True)) == {}
    assert agent_server(settings) is None  # the demo card belongs to the demo PKI only
    assert not demo_pki_dir(settings).exists()


def test_no_agent_outside_demo_mode(tmp_path: Path, sqlite_template: Path, pki: GeneratedPki) -> None:
    settings = make_settings(tmp_path, "sqlite+aiosqlite:///x.db", **pki.env())
    assert agent_server(settings) is None
