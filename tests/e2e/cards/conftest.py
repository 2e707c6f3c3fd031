"""Real PC/SC stack for card tests: pcscd + the vpcd driver + our virtual card, driven through pyscard.

Missing pieces skip with the reason, except under MANDAT_CI=1 where they fail: CI must not skip.
The virtual card plugs into vpcd's second slot ("Virtual PCD 00 01", TCP 35964) so that a demo or another
test using the first slot does not collide with these tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from idp.cards.config import CardSettings
from idp.cards.emulator import VirtualCpsCard
from idp.cards.errors import CardError
from idp.cards.pki import ChainValidator
from idp.cards.testpki import GeneratedPki, make_test_pki
from idp.cards.vpcd import VpcdBridge

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_CONFIG = Path("/etc/reader.conf.d/vpcd")
VPCD_PORT = 35964
READER = "Virtual PCD 00 01"
PIN = "1234"


def unavailable(reason: str) -> None:
    if os.environ.get("MANDAT_CI") == "1":
        pytest.fail(f"MANDAT_CI=1 and the PC/SC rig is incomplete: {reason}")
    pytest.skip(reason)


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
