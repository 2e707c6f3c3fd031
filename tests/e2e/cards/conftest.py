"""Real PC/SC stack for card tests: pcscd + the vpcd driver + our virtual card, driven through pyscard.

Missing pieces skip with the reason, except under MANDAT_CI=1 where they fail: CI must not skip.
The virtual card plugs into vpcd's second slot ("Virtual PCD 00 01", TCP 35964) so that a demo or another
test using the first slot does not collide with these tests.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from idp.audit import AuditEvent
from idp.cards.config import CardSettings
from idp.cards.directory import import_directory
from idp.cards.emulator import VirtualCpsCard
from idp.cards.errors import CardError
from idp.cards.pki import ChainValidator
from idp.cards.testpki import GeneratedPki, make_test_pki
from idp.cards.vpcd import VpcdBridge
from tests.conftest import REDIRECT, unavailable
from tests.e2e.conftest import LiveIdP

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_CONFIG = Path("/etc/reader.conf.d/vpcd")
VPCD_PORT = 35964
READER = "Virtual PCD 00 01"
PIN = "1234"


def _pcscd_answers() -> bool:
    from idp.cards.pcsc import PcscContext

    try:
        with PcscContext() as context:
            context.readers()
    except CardError:
        return False
    return True


@pytest.fixture(scope="session")
def pcscd() -> Iterator[None]:
    """A running pcscd with the vpcd readers: reuse one already running, else start one for the session."""
    if shutil.which("pcscd") is None:
        unavailable("pcscd is not installed (apt-get install pcscd)")
    if not VPCD_DRIVER.exists() or not VPCD_CONFIG.exists():
        unavailable("the vpcd reader driver is not installed (apt-get install vsmartcard-vpcd)")
    try:
        import smartcard  # noqa: F401
    except ImportError:
        unavailable("pyscard is not installed (pip install pyscard; needs libpcsclite-dev)")
    process: subprocess.Popen[bytes] | None = None
    if not (PCSCD_SOCKET.exists() and _pcscd_answers()):
        process = subprocess.Popen(["pcscd", "--foreground", "--error"])
        deadline = time.monotonic() + 5
        while not (PCSCD_SOCKET.exists() and _pcscd_answers()):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                unavailable(f"pcscd did not start (exit status {process.poll()}); are you root?")
            time.sleep(0.02)
    try:
        yield
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=5)


def wait_for_reader(present: bool, timeout: float = 5.0) -> None:
    """pcscd polls presence about every 0.4 s; a card is only usable (or gone) once it says so."""
    from idp.cards.pcsc import PcscContext

    deadline = time.monotonic() + timeout
    with PcscContext() as context:
        while time.monotonic() < deadline:
            if any(s.name.startswith(READER) and s.card_present == present for s in context.statuses()):
                return
            time.sleep(0.05)
    raise AssertionError(f"{READER} did not become {'present' if present else 'empty'} within {timeout} s")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> GeneratedPki:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture()
def validator(pki: GeneratedPki) -> ChainValidator:
    return ChainValidator.from_settings(CardSettings.from_env(pki.env()))


InsertCard = Callable[[str], tuple[VirtualCpsCard, VpcdBridge]]


@pytest.fixture()
def insert_card(pcscd: None, pki: GeneratedPki) -> Iterator[InsertCard]:
    """Insert a fresh virtual card (PIN 1234, 3 tries) for a national id; pulled out after the test."""
    bridges: list[VpcdBridge] = []

    def insert(national_id: str) -> tuple[VirtualCpsCard, VpcdBridge]:
        card = VirtualCpsCard.from_dir(pki.card_dirs[national_id], PIN)
        bridge = VpcdBridge(card, port=VPCD_PORT).start()
        bridges.append(bridge)
        assert bridge.wait_connected(), "vpcd did not accept the card"
        wait_for_reader(present=True)
        return card, bridge

    yield insert
    for bridge in bridges:
        bridge.stop()
    wait_for_reader(present=False)  # re-inserting before pcscd saw the removal gives "card is unpowered"


# --- a live IdP that trusts the test PKI and knows its professionals ---------------------------------------------

PSC_CLIENT_SCOPES = ["openid", "profile", "email", "scope_all", "rpps", "identity"]


@dataclass
class CardIdP:
    idp: LiveIdP
    http: httpx.AsyncClient  # talks to the live IdP over real HTTP
    client: tuple[str, str]  # "rp" and its secret


@asynccontextmanager
async def card_idp(live_idp_factory: Callable[..., Any], pki: GeneratedPki, *, redirect_uris: list[str] | None = None,
                   **extra_env: str) -> AsyncIterator[CardIdP]:
    async with live_idp_factory(**pki.env(), **extra_env) as idp:
        await import_directory(idp.container.db, pki.out_dir / "directory.txt", False)
        created = await idp.container.clients.register(
            client_id="rp", name="Portail professionnel", redirect_uris=redirect_uris or [REDIRECT],
            post_logout_redirect_uris=[], scopes=PSC_CLIENT_SCOPES,
            audiences=["professional"])
        assert created.secret
        async with httpx.AsyncClient(base_url=idp.issuer, timeout=10) as http:
            yield CardIdP(idp, http, ("rp", created.secret))


async def audit_tags(idp: LiveIdP, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    await idp.container.audit.flush()
    async with idp.container.db.session() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.tag.startswith(prefix))
                                     .order_by(AuditEvent.id))
        return [(r.tag, r.detail) for r in rows]
