"""Async SQLAlchemy engine, session factory and the declarative base shared by every domain's models."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, MetaData, TypeDecorator, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, *, echo: bool = False, immediate: bool = False, pool_size: int = 10,
                max_overflow: int = 10, connect_timeout: float = 5) -> AsyncEngine:
    """Create the engine; for SQLite, make sure the parent folder exists and enable WAL + foreign keys.

    `immediate=True` (SQLite only) starts every transaction with BEGIN IMMEDIATE. A deferred transaction that
    reads and then writes fails at once with "database is locked" when another writer committed in between
    (SQLite cannot wait there without risking deadlock); taking the write lock up front makes it wait instead.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            if immediate:
                dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below

        if immediate:
            @event.listens_for(engine.sync_engine, "begin")
            def _begin_immediate(conn):  # type: ignore[no-untyped-def]
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # pre_ping: a connection that died while idle in the pool (PostgreSQL restarted, failed over, a proxy closed
    # it) is replaced before use, so the pool recovers by itself. pool_timeout = connect timeout: a request
    # waits for a free connection no longer than for a new one, then fails with 503 (idp/observability/faults).
    # hide_parameters: an error message never carries the values of a statement (hashes, personal data) to a log.
    return create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True,
                               pool_timeout=connect_timeout, connect_args={"timeout": connect_timeout},
                               hide_parameters=True)


# The write transaction the running code is inside (set by `Database.transaction`), for work that must commit
# or roll back with it: the audit events recorded while it is open (idp/audit.py).
_OPEN_TRANSACTION: ContextVar[AsyncSession | None] = ContextVar("mandat_open_transaction", default=None)


def open_transaction() -> AsyncSession | None:
    """The `Database.transaction()` session the caller runs inside, while it is open; else None."""
    session = _OPEN_TRANSACTION.get()
    return session if session is not None and session.info.get("mandat_open") else None


class Database:
    """Owns the engine and hands out sessions; built once by `create_app` or the CLI.

    `before_commit`: coroutines run inside every `transaction()` just before it commits, on its session (the
    audit log writes there the events recorded during the transaction, so they commit with the change they
    describe, or not at all).
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 10,
                 connect_timeout: float = 5) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow,
                                  connect_timeout=connect_timeout)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite: writes go through BEGIN IMMEDIATE connections (see make_engine); reads stay concurrent.
        self._write_engine = make_engine(url, echo=echo, immediate=True) if url.startswith("sqlite") else self.engine
        self._write_sessions = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self.before_commit: list[Callable[[AsyncSession], Awaitable[None]]] = []

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction. Inside another one of this database (same task), it joins it: the work commits
        or rolls back with the outer transaction, so a use case spanning several services (an account recovery:
        new password, grants revoked, keys removed, audit events) is all-or-nothing."""
        outer = open_transaction()
        if outer is not None and outer.info.get("mandat_db") is self:
            yield outer
            return
        async with self._write_sessions() as session, session.begin():
            session.info["mandat_db"] = self
            session.info["mandat_open"] = True
            token = _OPEN_TRANSACTION.set(session)
            try:
                yield session
                for hook in self.before_commit:
                    await hook(session)
            finally:
                session.info["mandat_open"] = False
                _OPEN_TRANSACTION.reset(token)

    @asynccontextmanager
    async def bulk_transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction for one batch of a bulk import.

        Imports look their batch up with `WHERE key IN (…)` through prepared statements. PostgreSQL may keep
        the generic plan it chose while the table was empty (a sequential scan) for the whole import: measured,
        a 1M-row registry import fell to ~400 rows/s by 120k rows. A custom plan per batch costs microseconds.
        """
        async with self.transaction() as session:
            if not self.is_sqlite:
                await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            yield session

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._write_engine is not self.engine:
            await self._write_engine.dispose()
