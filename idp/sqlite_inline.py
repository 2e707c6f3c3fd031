"""aiosqlite's connection, run on the event loop's own thread (the wrapper module for aiosqlite).

aiosqlite gives each connection a thread and sends every call (cursor, execute, fetch, commit) there and back:
two thread wake-ups per call. Measured on the 2-core dev VM through SQLAlchemy, a one-row read in its own session
took 0.85 ms and a two-statement write transaction 1.4 ms, nearly all of it in those hand-offs, while SQLite
itself answers an indexed read from its page cache in microseconds. Run inline, the same read takes about a
quarter of that, and the event loop is never waiting for a thread.

What running on the loop's thread changes, and why it is safe here:
- A call blocks the loop while SQLite works. Mandat's statements are indexed and small; long scans run in the
  CLI (imports, audit verification), whose loop has nothing else to do. Production runs on PostgreSQL.
- SQLite makes a writer wait for another's lock in its busy handler, which sleeps: inline, that would freeze
  the loop. So a connection's busy timeout stays 0 while it takes the write lock: `begin_immediate` asks for
  it, and on "database is locked" yields to the loop and asks again, until `wait` seconds have passed. Inside
  one process, `Database` already queues writers on an asyncio lock; this is for another process (the CLI) or
  another worker writing at the same moment. Reads in WAL mode never wait for a writer.
- Committing into the WAL costs no fsync (synchronous=NORMAL), but SQLite's automatic checkpoint, which copies
  the WAL into the database file and fsyncs it, would run inside some commit, on the loop. It is off on these
  connections (`wal_autocheckpoint=0`); `Checkpointer` runs it on a worker thread instead, at most once a second
  after a write, PASSIVE (it never waits for, nor blocks, readers and writers).
- The connection is made and used on the loop's thread; `check_same_thread=False` only keeps SQLite from
  refusing a pooled connection closed by a garbage collector on another thread.

SQLAlchemy's aiosqlite dialect drives this class exactly as it drives aiosqlite's (`async_creator`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

import aiosqlite
from sqlalchemy.util import await_only

from idp.errors import StorageUnavailable

log = logging.getLogger("mandat.db")

# How long a busy-timeout-free connection waits for SQLite to answer a read that met a checkpoint or recovery
# (WAL readers wait only there): SQLite's handler sleeps, which is tolerable for such a rare, brief case.
READ_BUSY_TIMEOUT_MS = 2000
# First and largest pause between two attempts at the write lock held by another process.
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.05


class _RunNow:
    """Stands for aiosqlite's queue to its thread: SQLAlchemy puts a call there directly (isolation level)."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as aiosqlite does
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run at once, on the caller's thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int = 64) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _RunNow()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self):  # type: ignore[no-untyped-def]
        return self._connect().__await__()  # no thread to start

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def connector(path: str, *,
              timeout_ms: int = READ_BUSY_TIMEOUT_MS) -> Callable[[], Coroutine[Any, Any, InlineConnection]]:
    """The `async_creator` for `create_async_engine`: inline connections to the SQLite file at `path`."""

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=timeout_ms / 1000, check_same_thread=False)
        connection.execute("PRAGMA wal_autocheckpoint=0")  # see Checkpointer
        return connection

    async def create() -> InlineConnection:
        return await InlineConnection(connect)._connect()

    return create


def begin_immediate(driver_connection: Any, wait: float) -> None:
    """BEGIN IMMEDIATE without blocking the loop: retried with growing pauses while another process writes.

    Called from SQLAlchemy's synchronous `begin` event, which runs in its greenlet: `await_only` hands the
    pauses to the event loop. After `wait` seconds, raises StorageUnavailable (a 503 with Retry-After).
    """
    raw: sqlite3.Connection = driver_connection._conn
    deadline = time.monotonic() + wait
    pause = _FIRST_PAUSE
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                if time.monotonic() + pause > deadline:
                    raise StorageUnavailable(f"SQLite: another process kept the write lock over {wait:g} s") from None
            await_only(asyncio.sleep(pause))
            pause = min(pause * 2, _LONGEST_PAUSE)
    finally:
        raw.execute(f"PRAGMA busy_timeout = {READ_BUSY_TIMEOUT_MS}")


class Checkpointer:
    """Copies the WAL into the database file on a worker thread, off the event loop (see the module docstring)."""

    def __init__(self, path: str, *, every: float = 1.0) -> None:
        self._path = path
        self._every = every
        self._last = 0.0
        self._running: asyncio.Future[None] | None = None

    def committed(self) -> None:
        """A write transaction committed: checkpoint if none ran in the last `every` seconds."""
        now = time.monotonic()
        if (self._running is None or self._running.done()) and now - self._last >= self._every:
            self._last = now
            self._running = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))

    def _checkpoint(self) -> None:
        # mode=rw: never create the file (it may have been removed since, as a test's temporary folder is).
        try:
            connection = sqlite3.connect(f"file:{quote(self._path)}?mode=rw", uri=True,
                                         timeout=READ_BUSY_TIMEOUT_MS / 1000)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                connection.close()
        except sqlite3.Error as exc:  # the next commit tries again; SQLite's WAL stays correct meanwhile
            log.warning("SQLite checkpoint of %s failed: %s", self._path, exc)

    async def close(self) -> None:
        """Wait for a checkpoint under way, then run a last one (the WAL stays small between runs)."""
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
        await asyncio.to_thread(self._checkpoint)
