"""Demo data: accounts, the demo portal client, and each domain's own demo data.

Only seeds an empty database unless forced. The demo portal's client secret is written to
`<keys dir>/demo-portal.secret` (0600) for the portal to read; it is never printed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from datetime import date

from rich.console import Console
from sqlalchemy import func, select

from idp.accounts.models import Account
from idp.container import Container, build_container
from idp.settings import Settings

DEMO_PASSWORD = "Mandat-demo-2026"
PORTAL_CLIENT_ID = "demo-portal"
PRO_PORTAL_CLIENT_ID = "demo-pro-portal"
PORTAL_URL = "http://localhost:8001"

DEMO_ACCOUNTS = [
    {"username": "alice", "given_name": "Alice", "family_name": "Martin", "email": "alice@example.org",
     "birthdate": date(1985, 4, 12), "gender": "female"},
    {"username": "bob", "given_name": "Bob", "family_name": "Durand", "email": "bob@example.org",
     "birthdate": date(1950, 11, 3), "gender": "male"},
]

# Domain packages add their demo data here: async (container, console) -> None.
DomainSeeder = Callable[[Container, Console], Awaitable[None]]


def domain_seeders() -> list[DomainSeeder]:
    from idp.domains import DEMO_SEEDERS, load

    return load(DEMO_SEEDERS)


def portal_secret_path(settings: Settings, client_id: str = PORTAL_CLIENT_ID) -> str:
    return str(settings.keys_path / f"{client_id}.secret")


async def ensure_pro_portal(container: Container, settings: Settings, portal_url: str = PORTAL_URL) -> None:
    """The professional space of the demo portal: a `professional` client (card first on its sign-in page).
    Idempotent, so a database seeded before it existed gets it on the next `make run`."""
    if await container.clients.get(PRO_PORTAL_CLIENT_ID) is not None:
        return
    created = await container.clients.register(
        client_id=PRO_PORTAL_CLIENT_ID, name="Espace professionnel (démo)",
        redirect_uris=[f"{portal_url}/pro/callback"], post_logout_redirect_uris=[f"{portal_url}/pro/"],
        scopes=["openid", "profile", "email", "scope_all", "rpps", "identity"], auth_method="client_secret_basic",
        grant_types=["authorization_code", "refresh_token"], audiences=["professional"])
    write_secret_file(portal_secret_path(settings, PRO_PORTAL_CLIENT_ID), created.secret or "")


async def seed(settings: Settings, *, force: bool = False, console: Console | None = None,
               portal_url: str = PORTAL_URL) -> bool:
    """Seed an empty database (or any with `force`); returns whether it did. The demo clients' redirect URIs are
    under `portal_url` (the demo portal's address)."""
    console = console or Console(stderr=True)
    container = build_container(settings)
    try:
        async with container.db.session() as session:
            count = (await session.execute(select(func.count()).select_from(Account))).scalar_one()
        await ensure_pro_portal(container, settings, portal_url)
        if count and not force:
            console.print("Demo data already present; nothing seeded.")
            return False
        for spec in DEMO_ACCOUNTS:
            if await container.accounts.by_username(str(spec["username"])) is None:
                await container.accounts.create(password=DEMO_PASSWORD, **spec)  # type: ignore[arg-type]
        if await container.clients.get(PORTAL_CLIENT_ID) is None:
            created = await container.clients.register(
                client_id=PORTAL_CLIENT_ID, name="Portail patient (démo)", redirect_uris=[f"{portal_url}/callback"],
                post_logout_redirect_uris=[f"{portal_url}/"],
                scopes=["openid", "profile", "email", "offline_access", *extra_demo_scopes()],
                auth_method="client_secret_basic", grant_types=["authorization_code", "refresh_token"],
                audiences=["citizen"])
            write_secret_file(portal_secret_path(settings), created.secret or "")
        for seeder in domain_seeders():
            await seeder(container, console)
        console.print(f"[green]Demo data seeded[/green]: accounts alice and bob (password {DEMO_PASSWORD}), "
                      f"clients {PORTAL_CLIENT_ID} (patients) and {PRO_PORTAL_CLIENT_ID} (professionals)")
        return True
    finally:
        await container.close()


def write_secret_file(path: str, secret: str) -> None:
    """Replace the file with a fresh 0600 one (never widen the mode of an existing file)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)


def extra_demo_scopes() -> list[str]:
    # Enrollment: the FranceConnect pivot identity and the insurance number (README "Enrol a demo citizen").
    return ["identite_pivot", "health_insurance"]
