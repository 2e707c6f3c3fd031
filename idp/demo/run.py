"""`python -m idp demo run`: migrate, seed if empty, and serve the IdP and the demo portal in one process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import uvicorn
from rich.console import Console
from starlette.types import ASGIApp

from idp.app import create_app
from idp.cards import demo as cards_demo
from idp.delegation import demo as delegation_demo
from idp.demo.portal import create_portals
from idp.demo.seed import PORTAL_CLIENT_ID, PRO_PORTAL_CLIENT_ID, portal_secret_path, seed
from idp.http.server import server_options
from idp.migrations import upgrade
from idp.settings import Settings


def demo_servers(settings: Settings, idp_app: ASGIApp, portal: ASGIApp, *, host: str, port: int,
                 portal_port: int) -> list[uvicorn.Server]:
    """The IdP and the demo portal, configured like `mandat serve` (no `server` header, same header limits)."""
    options = server_options(settings)
    return [
        uvicorn.Server(uvicorn.Config(idp_app, host=host, port=port, loop="none", log_level="info", **options)),
        uvicorn.Server(uvicorn.Config(portal, host=host, port=portal_port, loop="none", log_level="warning",
                                      **options)),
    ]


def run_demo(settings: Settings, *, host: str, port: int, portal_port: int) -> None:
    console = Console(stderr=True)
    upgrade(settings.database_url)
    # Cards: a test PKI and a virtual card held by an in-process card agent, so no reader is needed.
    card_env = cards_demo.demo_env(settings, console)
    demo_settings = Settings.from_env({**settings.environ, "MANDAT_DEMO": "true", **card_env})
    portal_url = f"http://localhost:{portal_port}"
    if not asyncio.run(seed(demo_settings, console=console, portal_url=portal_url)):
        # An existing database gets what was added since it was seeded (each step is idempotent, in this order:
        # the delegations use the directory's professional).
        if card_env:
            asyncio.run(cards_demo.seed_existing(demo_settings, console))
        asyncio.run(delegation_demo.seed_existing(demo_settings, console))
    secret = Path(portal_secret_path(settings)).read_text().strip()
    pro_secret_file = Path(portal_secret_path(settings, PRO_PORTAL_CLIENT_ID))
    professional = (PRO_PORTAL_CLIENT_ID, pro_secret_file.read_text().strip()) if pro_secret_file.exists() else None
    idp_app = create_app(demo_settings)
    portal = create_portals(issuer=settings.issuer, portal_url=portal_url,
                            patient=(PORTAL_CLIENT_ID, secret), professional=professional)
    console.print(f"[bold green]Mandat[/bold green] at {settings.issuer}  ·  demo portal at "
                  f"http://localhost:{portal_port}  ·  see README for demo accounts")

    async def serve_both() -> None:
        servers = demo_servers(demo_settings, idp_app, portal, host=host, port=port, portal_port=portal_port)
        card_agent = cards_demo.agent_server(demo_settings)
        if card_agent is not None:
            servers.append(card_agent)
        await asyncio.gather(*(s.serve() for s in servers))

    asyncio.run(serve_both())
