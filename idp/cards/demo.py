"""Demo card sign-in: a test PKI under `<keys dir>/cards-demo/`, its directory extract, and a virtual card.

`python -m idp demo run` (idp/demo/run.py) calls, in order:

1. `demo_env(settings, console)`: makes the test PKI if absent (or if its CRLs are about to expire) and
   returns the MANDAT_CARDS_* values that trust it, unless cards are already configured;
2. `seed_demo(container, console)` (a DEMO_SEEDERS entry; or `seed_existing` for an already-seeded database):
   imports the demo directory extract and lets the demo portal ask for the PSC scopes;
3. `agent_server(settings)`: the card agent on 127.0.0.1, backed by the demo professional's virtual card held
   in this process (no reader, pcscd or hardware needed).

Everything here is TEST material: the demo PKI must never be a production trust anchor.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import uvicorn
from cryptography import x509
from rich.console import Console
from sqlalchemy import select

from idp.cards.agent import create_agent_app
from idp.cards.config import CardSettings
from idp.cards.directory import import_directory
from idp.cards.emulator import InProcessReader, VirtualCpsCard
from idp.cards.service import PSC_SCOPES
from idp.cards.testpki import DEMO_PROFESSIONALS, GeneratedPki, make_test_pki
from idp.clients.models import ClientRecord
from idp.container import Container, build_container
from idp.settings import Settings

__all__ = ["DEMO_PIN", "agent_server", "demo_env", "demo_pki_dir", "seed_demo", "seed_existing"]

DEMO_PIN = "1234"
DEMO_PORTAL_CLIENT_ID = "demo-portal"
DEMO_PROFESSIONAL = DEMO_PROFESSIONALS[0]  # the valid card held by the demo agent
_CRL_MARGIN = dt.timedelta(days=1)


def demo_pki_dir(settings: Settings) -> Path:
    return (settings.keys_path / "cards-demo").resolve()


def _load(out_dir: Path) -> GeneratedPki | None:
    """The PKI `make_test_pki` left in `out_dir`, or None if missing or its CRLs expire within a day."""
    manifest_path = out_dir / "manifest.json"
    crl_paths = (out_dir / "crl" / "root.crl.pem", out_dir / "crl" / "personnes.crl.pem")
    if not manifest_path.is_file() or not all(p.is_file() for p in crl_paths):
        return None
    for path in crl_paths:
        next_update = x509.load_pem_x509_crl(path.read_bytes()).next_update_utc
        if next_update is None or next_update < dt.datetime.now(dt.UTC) + _CRL_MARGIN:
            return None
    cards = json.loads(manifest_path.read_text())["cards"]
    return GeneratedPki(out_dir, out_dir / "trust-anchors.pem", out_dir / "intermediates.pem", crl_paths,
                        {c["national_id"]: Path(c["card_dir"]) for c in cards},
                        frozenset(c["national_id"] for c in cards if c["revoked"]))


def ensure_demo_pki(settings: Settings) -> GeneratedPki:
    out_dir = demo_pki_dir(settings)
    return _load(out_dir) or make_test_pki(out_dir)


def demo_env(settings: Settings, console: Console) -> dict[str, str]:
    """MANDAT_CARDS_* values that enable card sign-in against the demo PKI ({} if cards are configured)."""
    if settings.domain(CardSettings.from_env).enabled:
        return {}
    pki = ensure_demo_pki(settings)
    console.print(f"[bold]Demo CPS card[/bold]: {DEMO_PROFESSIONAL.given_name} {DEMO_PROFESSIONAL.family_name} "
                  f"({DEMO_PROFESSIONAL.national_id}), PIN [bold]{DEMO_PIN}[/bold]; card sign-in trusts the TEST PKI:")
    for name, value in pki.env().items():
        console.print(f"  export {name}={value}", soft_wrap=True)
    return pki.env()


async def seed_demo(container: Container, console: Console) -> None:
    """Demo directory extract, and the PSC scopes for the demo portal. Idempotent."""
    settings = container.settings.domain(CardSettings.from_env)
    if not settings.enabled:
        return
    pki = ensure_demo_pki(container.settings)
    summary = await import_directory(container.db, pki.out_dir / "directory.txt", False)
    async with container.db.transaction() as session:
        client = (await session.scalars(select(ClientRecord).where(
            ClientRecord.client_id == DEMO_PORTAL_CLIENT_ID))).first()
        if client is not None:
            client.scopes = " ".join(dict.fromkeys(client.scopes.split() + list(PSC_SCOPES)))
    container.clients.forget(DEMO_PORTAL_CLIENT_ID)
    console.print(f"Demo professionals: {summary.imported} directory line(s) imported; sign in with the CPS card "
                  f"of {DEMO_PROFESSIONAL.national_id}, PIN {DEMO_PIN}")


async def seed_existing(settings: Settings, console: Console) -> None:
    """`seed_demo` for a database seeded before cards were enabled."""
    container = build_container(settings)
    try:
        await seed_demo(container, console)
    finally:
        await container.close()


def agent_server(settings: Settings) -> uvicorn.Server | None:
    """The demo card agent (loopback only) holding the demo professional's virtual card, if cards are on."""
    cards = settings.domain(CardSettings.from_env)
    if not (settings.demo and cards.enabled):
        return None
    card_dir = demo_pki_dir(settings) / "cards" / DEMO_PROFESSIONAL.national_id
    if not card_dir.is_dir():
        return None  # cards are configured with another PKI: use a real reader and `card-agent`
    reader = InProcessReader(VirtualCpsCard.from_dir(card_dir, DEMO_PIN))
    app = create_agent_app(cards.idp_origin, reader=reader, port=cards.agent_port)
    return uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=cards.agent_port, loop="none",
                                         log_level="warning", access_log=False, server_header=False,
                                         lifespan="off"))
