"""Run Alembic from code (`python -m idp migrate`, `make run`, tests).

The migration scripts live in `alembic/` at the repository root (`alembic upgrade head` and `alembic revision`
use them there through alembic.ini). The wheel ships the same folder as `idp/_alembic/` (see setup.py), so an
installed package migrates without a checkout. Nothing is looked up from the working directory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.config import Config

from alembic import command
from idp.errors import ConfigurationError

PACKAGE_DIR = Path(__file__).resolve().parent
INSTALLED_SCRIPTS = PACKAGE_DIR / "_alembic"  # an installed wheel
CHECKOUT_SCRIPTS = PACKAGE_DIR.parent / "alembic"  # a source checkout (or an editable install of one)


def script_location() -> Path:
    """The folder holding env.py and versions/: the packaged copy, else the checkout's (next to alembic.ini)."""
    if (INSTALLED_SCRIPTS / "env.py").is_file():
        return INSTALLED_SCRIPTS
    if (CHECKOUT_SCRIPTS / "env.py").is_file() and (PACKAGE_DIR.parent / "alembic.ini").is_file():
        return CHECKOUT_SCRIPTS
    raise ConfigurationError(f"no migration scripts in {INSTALLED_SCRIPTS} nor {CHECKOUT_SCRIPTS}: "
                             "reinstall Mandat from a wheel built with its pyproject.toml")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Alembic's env runs its own event loop, so call this from synchronous code (or a worker thread)."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
