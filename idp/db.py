"""Async SQLAlchemy engine, session factory and the declarative base shared by every domain's models."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, MetaData, TypeDecorator, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, UOWTransaction

from idp import sqlite_inline
from idp.errors import StorageUnavailable

log = logging.getLogger("mandat.db")

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
                max_overflow: int = 10, connect_timeout: float = 5, write_wait: float = 30) -> AsyncEngine:
    """Create the engine; for SQLite, make sure the parent folder exists and enable WAL + foreign keys.

    `immediate=True` (SQLite only) starts every transaction with BEGIN IMMEDIATE. A deferred transaction that
    reads and then writes fails at once with "database is locked" when another writer committed in between
    (SQLite cannot wait there without risking deadlock); taking the write lock up front makes it wait instead,
    for up to `write_wait` seconds, without blocking the event loop.
    """
    if url.startswith("sqlite"):
        path = make_url(url).database or ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Inline connections (idp/sqlite_inline.py): no thread hand-off per call.
        engine = create_async_engine(url, echo=echo, async_creator=sqlite_inline.connector(path or ":memory:"),
                                     hide_parameters=True)

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
                sqlite_inline.begin_immediate(conn.connection.driver_connection, write_wait)

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


class _WriteSession(Session):
    """The session class of `Database.transaction()`: it notes in `info["mandat_written"]` the tables its flushes
    and UPDATE/DELETE/INSERT statements wrote, for `Database.after_commit`."""


@event.listens_for(_WriteSession, "after_flush")
def _note_flushed(session: Session, flush: UOWTransaction) -> None:
    written = session.info.setdefault("mandat_written", set())
    for instance in (*session.new, *session.dirty, *session.deleted):
        table = getattr(type(instance), "__tablename__", None)
        if table is not None:
            written.add(table)


@event.listens_for(_WriteSession, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        name = getattr(table, "name", None)
        if isinstance(name, str):
            state.session.info.setdefault("mandat_written", set()).add(name)


class Database:
    """Owns the engine and hands out sessions; built once by `create_app` or the CLI.

    `before_commit`: coroutines run inside every `transaction()` just before it commits, on its session (the
    audit log writes there the events recorded during the transaction, so they commit with the change they
    describe, or not at all). `after_commit`: coroutines awaited with the names of the tables a `transaction()`
    wrote (through the ORM: added, changed or deleted rows, and UPDATE/DELETE/INSERT statements), once it has
    committed and before it returns; caches of rows read on hot paths drop them there (idp/stamped.py), as do the
    coroutines `when_committed` adds for one transaction.

    SQLite has one writer at a time. Without more, concurrent write transactions of this process would queue in
    SQLite's busy handler, which polls by sleeping 1, 2, 5 … 100 ms: measured, refresh-token rotation at 32
    connections spent half its time in those sleeps (~200 req/s, p99 1.3 s). So this process's SQLite writers
    queue first on an asyncio lock, in arrival order, and reach SQLite one at a time; the busy handler then only
    arbitrates between processes (the CLI beside a server). Waiting for the lock longer than `write_wait`
    seconds raises `StorageUnavailable` (a 503 with Retry-After), as SQLite's own 30 s timeout would.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 10,
                 connect_timeout: float = 5, write_wait: float = 30) -> None:
        self.url = url
        self.write_wait = write_wait
        # One lock per event loop (tests run several loops; an asyncio.Lock belongs to one).
        self._write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary())
        self.engine = make_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow,
                                  connect_timeout=connect_timeout)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite: writes go through BEGIN IMMEDIATE connections (see make_engine); reads stay concurrent.
        self._write_engine = (make_engine(url, echo=echo, immediate=True, write_wait=write_wait)
                              if url.startswith("sqlite") else self.engine)
        self._write_sessions = async_sessionmaker(self._write_engine, expire_on_commit=False,
                                                  sync_session_class=_WriteSession)
        path = make_url(url).database if url.startswith("sqlite") else None
        self._checkpointer = sqlite_inline.Checkpointer(path) if path and path != ":memory:" else None
        self.before_commit: list[Callable[[AsyncSession], Awaitable[None]]] = []
        self.after_commit: list[Callable[[frozenset[str]], Awaitable[None]]] = []

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        # Closed here rather than by `async with`: AsyncSession.__aexit__ closes in a new task, so the
        # connection would stay checked out for one more turn of the event loop (measured: with 32 requests in
        # flight, the pool overflowed and reconnected to SQLite on most reads).
        session = self.sessions()
        try:
            yield session
        finally:
            await session.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction. Inside another one of this database (same task), it joins it: the work commits
        or rolls back with the outer transaction, so a use case spanning several services (an account recovery:
        new password, grants revoked, keys removed, audit events) is all-or-nothing."""
        outer = open_transaction()
        if outer is not None and outer.info.get("mandat_db") is self:
            yield outer
            return
        async with AsyncExitStack() as stack:
            if self.is_sqlite:
                await stack.enter_async_context(self._sqlite_writer())
            session = self._write_sessions()
            stack.push_async_callback(session.close)  # as in `session()`: no extra turn holding the connection
            await stack.enter_async_context(session.begin())
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
        # Committed. What follows must not undo that in the caller's eyes: a failure is logged, and the caches
        # it concerns fall back on their bounded keeping time.
        if self._checkpointer is not None:
            self._checkpointer.committed()
        written = frozenset(session.info.get("mandat_written", ()))
        pending = [hook() for hook in session.info.get("mandat_when_committed", ())]
        pending += [notify(written) for notify in self.after_commit] if written else []
        for work in pending:
            try:
                await work
            except Exception:
                log.exception("a post-commit step failed; the change itself is committed")

    @staticmethod
    def when_committed(session: AsyncSession, hook: Callable[[], Awaitable[None]]) -> None:
        """Await `hook` once the `transaction()` whose session this is has committed (never if it rolls back)."""
        session.info.setdefault("mandat_when_committed", []).append(hook)

    @asynccontextmanager
    async def _sqlite_writer(self) -> AsyncIterator[None]:
        """This process's turn to write to SQLite (see the class docstring)."""
        loop = asyncio.get_running_loop()
        lock = self._write_locks.get(loop)
        if lock is None:
            lock = self._write_locks[loop] = asyncio.Lock()
        try:
            async with asyncio.timeout(self.write_wait):
                await lock.acquire()
        except TimeoutError:
            raise StorageUnavailable(f"SQLite: no write turn within {self.write_wait:g} s") from None
        try:
            yield
        finally:
            lock.release()

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
        if self._checkpointer is not None:
            await self._checkpointer.close()
        await self.engine.dispose()
        if self._write_engine is not self.engine:
            await self._write_engine.dispose()
