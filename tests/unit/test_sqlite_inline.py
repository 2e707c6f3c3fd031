"""SQLite on the event loop's thread (idp/sqlite_inline.py) and the per-process writer queue (idp/db.py): writers
never meet SQLite's sleeping busy handler, another process's write lock is waited for without freezing the loop,
and a lock held too long is a clean StorageUnavailable."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from idp.db import Database
from idp.errors import StorageUnavailable


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}", write_wait=1)
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        await session.execute(text("INSERT INTO counter (id, n) VALUES (1, 0)"))
    yield database
    await database.dispose()


async def _read_n(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(text("SELECT n FROM counter WHERE id = 1"))).scalar_one())


async def test_concurrent_writers_of_one_process_all_commit_in_turn(db: Database) -> None:
    """Read-then-write transactions racing in one process: each sees the previous one's commit (no lost update,
    no "database is locked")."""

    async def increment() -> None:
        async with db.transaction() as session:
            n = (await session.execute(text("SELECT n FROM counter WHERE id = 1"))).scalar_one()
            await asyncio.sleep(0)  # let the others try to write meanwhile
            await session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})

    await asyncio.gather(*(increment() for _ in range(50)))
    assert await _read_n(db) == 50


async def test_a_read_session_returns_its_connection_at_once(db: Database) -> None:
    """Sessions closed in `Database.session` itself: concurrent reads reuse one pooled connection instead of
    overflowing the pool and reconnecting."""
    await asyncio.gather(*(_read_n(db) for _ in range(40)))
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert db.engine.pool.checkedin() == 1  # type: ignore[attr-defined]


async def test_another_processs_write_lock_is_waited_for_without_blocking_the_loop(db: Database,
                                                                                     tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def write() -> None:
        async with db.transaction() as session:
            await session.execute(text("UPDATE counter SET n = 7 WHERE id = 1"))

    ticking = asyncio.create_task(ticker())
    threading.Timer(0.3, other.rollback).start()
    try:
        await write()
    finally:
        ticking.cancel()
    other.close()
    assert await _read_n(db) == 7
    assert ticks >= 10  # the loop kept running while the write waited ~0.3 s


async def test_a_write_lock_held_past_the_wait_is_storage_unavailable(db: Database, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageUnavailable, match="another process kept the write lock over 1 s"):
            async with db.transaction() as session:
                await session.execute(text("UPDATE counter SET n = 9 WHERE id = 1"))
    finally:
        other.rollback()
        other.close()
    assert await _read_n(db) == 0  # nothing half-written
    async with db.transaction() as session:  # and the database is usable again at once
        await session.execute(text("UPDATE counter SET n = 1 WHERE id = 1"))
    assert await _read_n(db) == 1


async def test_the_process_write_queue_has_a_bounded_wait(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'queue.db'}", write_wait=0.2)
    started = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with database.transaction():
            started.set()
            await release.wait()

    held = asyncio.create_task(holder())
    await started.wait()
    try:
        with pytest.raises(StorageUnavailable, match=r"no write turn within 0\.2 s"):
            async with database.transaction():
                pass
    finally:
        release.set()
        await held
        await database.dispose()
