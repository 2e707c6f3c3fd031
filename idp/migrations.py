"""Run Alembic from code (`python -m idp migrate`, `make run`, tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.config import Config

from alembic import command

# The repository root in a checkout; the working directory for an installed package (Dockerfile copies
# alembic/ and alembic.ini next to where it runs).
ROOT = next((p for p in (Path(__file__).resolve().parent.parent, Path.cwd()) if (p / "alembic.ini").exists()),
            Path.cwd())


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Alembic's env runs its own event loop, so call this from synchronous code (or a worker thread)."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
