"""Alembic environment: async engine from MANDAT_DATABASE_URL, batch mode on SQLite (ALTER support)."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Connection

from alembic import context
from idp.db import make_engine
from idp.models import metadata
from idp.settings import Settings

config = context.config
url = config.attributes.get("database_url") or Settings.from_env().database_url


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    engine = make_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_async())
