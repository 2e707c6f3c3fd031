"""Audit events: who, on behalf of whom, what, when — in a tamper-evident hash chain.

Tags follow `source:subject:action` (e.g. `oidc:token:issued`, `accounts:login:failed`). `record()` never
blocks a request: events are queued and a background task writes them in batches, each event's `hash` being
SHA-256 over the previous event's hash and its own canonical JSON. Changing or deleting a past row breaks
every later hash, which `verify_chain` detects. Batches are written under a lock on the chain head
(`SELECT … FOR UPDATE` on PostgreSQL; SQLite serialises writers), so several processes share one chain.

An event recorded inside an open `db.transaction()` is not queued: it is appended to the chain in that same
transaction, just before it commits (`Database.before_commit`). It then commits with the change it describes or
not at all: a process killed at any moment never leaves a change without its event, nor an event without its
change. Record inside the transaction whatever must match the state exactly (enrollment, delegations,
credentials); high-volume events recorded outside one (token issuance) stay batched.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, Select, String, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, Database, UTCDateTime, open_transaction, utcnow

log = logging.getLogger("mandat.audit")

GENESIS = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    tag: Mapped[str] = mapped_column(String(80), index=True)
    actor: Mapped[str | None] = mapped_column(String(200), index=True)
    subject: Mapped[str | None] = mapped_column(String(200), index=True)
    client_id: Mapped[str | None] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


AUDIT_TABLE: Table = AuditEvent.__table__  # type: ignore[assignment]


class AuditHead(Base):
    """One row: the last hash of the chain, locked while a batch is appended."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))


def _canonical(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain_hash(prev_hash: str, event: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(event)).hexdigest()


class AuditLog:
    def __init__(self, db: Database, *, flush_interval: float = 0.2, max_batch: int = 500) -> None:
        self._db = db
        self._queue: list[dict[str, Any]] = []
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._task: asyncio.Task[None] | None = None
        # (tag, client_id) -> [count, first ISO time]: machine-to-machine events are summed per flush.
        self._counters: dict[tuple[str, str | None], list[Any]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._lock = asyncio.Lock()
        db.before_commit.append(self._commit_with)

    def record(self, tag: str, *, actor: str | None = None, subject: str | None = None,
               client_id: str | None = None, ip: str | None = None, **detail: Any) -> None:
        event = {"at": utcnow().isoformat(), "tag": tag, "actor": actor, "subject": subject,
                 "client_id": client_id, "ip": ip or None, "detail": {k: v for k, v in detail.items() if v is not None}}
        session = open_transaction()
        if session is not None and session.info.get("mandat_db") is self._db:
            session.info.setdefault("mandat_audit", []).append(event)
            return
        self._queue.append(event)
        if len(self._queue) >= self._max_batch:
            self._wake.set()

    def count(self, tag: str, *, client_id: str | None) -> None:
        """A high-volume event about a client acting for itself (client_credentials tokens): recorded as one
        event per client and flush interval, carrying the count and the window. Events about a person are
        never summed: they go through `record`."""
        key = (tag, client_id)
        counter = self._counters.get(key)
        if counter is None:
            self._counters[key] = [1, utcnow().isoformat()]
        else:
            counter[0] += 1

    def _drain_counters(self) -> None:
        if not self._counters:
            return
        until = utcnow().isoformat()
        counters, self._counters = self._counters, {}
        for (tag, client_id), (count, since) in counters.items():
            self.record(tag, actor=client_id, client_id=client_id, count=count, since=since, until=until)

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        """Let the writer finish its current batch, then write what is left. Cancelling it instead could cut a
        transaction in half and leave SQLite's write lock with a dead connection (seen in CI: the final flush
        then waited out the 30 s busy timeout and failed with "database is locked")."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), self._flush_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # keep the writer alive; the events stay queued for the next try
                log.exception("audit flush failed; will retry")

    async def flush(self) -> None:
        self._drain_counters()
        async with self._lock:
            while self._queue:
                batch = self._queue[: self._max_batch]
                await self._append(batch)
                del self._queue[: len(batch)]

    async def _append(self, batch: list[dict[str, Any]]) -> None:
        try:
            await self._append_once(batch)
        except IntegrityError:
            # The very first batch of two processes at once: both found no head row (FOR UPDATE locks
            # nothing that does not exist) and both inserted it. The loser retries and now waits on the lock.
            await self._append_once(batch)

    async def _append_once(self, batch: list[dict[str, Any]]) -> None:
        async with self._db.transaction() as session:
            await self._append_in(session, batch)

    async def _commit_with(self, session: AsyncSession) -> None:
        """`Database.before_commit`: the events recorded during this transaction join the chain in it."""
        events = session.info.pop("mandat_audit", None)
        if events:
            await self._append_in(session, events)

    async def _append_in(self, session: AsyncSession, batch: list[dict[str, Any]]) -> None:
        if self._db.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as upsert
        else:
            from sqlalchemy.dialects.postgresql import insert as upsert  # type: ignore[assignment]
        # The head row exists before it is locked, so two first appends never both insert it (inside a
        # caller's transaction, an IntegrityError would undo the caller's change).
        await session.execute(upsert(AuditHead).values(id=1, hash=GENESIS).on_conflict_do_nothing())
        head = (await session.execute(
            select(AuditHead).where(AuditHead.id == 1).with_for_update())).scalar_one()
        prev = head.hash
        rows = []
        for event in batch:
            digest = chain_hash(prev, event)
            rows.append({**event, "at": datetime.fromisoformat(event["at"]), "prev_hash": prev, "hash": digest})
            prev = digest
        # One executemany through Core: the ORM's per-object bookkeeping cost more than the hashing.
        await session.execute(insert(AUDIT_TABLE), rows)
        head.hash = prev


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events to read: each given field narrows the result. `tag` is an exact tag, or a prefix when it
    ends with ':' (`delegation:` matches every delegation event); `since` is inclusive, `until` exclusive."""

    subject: str | None = None
    actor: str | None = None
    tag: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(where: AuditFilter) -> Select[AuditEvent]:
    query = select(AuditEvent)
    if where.subject is not None:
        query = query.where(AuditEvent.subject == where.subject)
    if where.actor is not None:
        query = query.where(AuditEvent.actor == where.actor)
    if where.tag is not None:
        if where.tag.endswith(":"):
            query = query.where(AuditEvent.tag.startswith(where.tag, autoescape=True))
        else:
            query = query.where(AuditEvent.tag == where.tag)
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.at < where.until)
    return query


async def read_events(db: Database, where: AuditFilter, *, limit: int, below_id: int | None = None,
                      above_id: int | None = None, newest_first: bool = True) -> list[AuditEvent]:
    """One page of stored events in id order (the chain's order), newest first unless told otherwise, starting
    below (or above) an id. Events are appended with growing ids under the chain lock, so a page walk by id
    neither misses nor repeats an event while others are written (queued events appear once flushed)."""
    query = _filtered(where)
    if below_id is not None:
        query = query.where(AuditEvent.id < below_id)
    if above_id is not None:
        query = query.where(AuditEvent.id > above_id)
    query = query.order_by(AuditEvent.id.desc() if newest_first else AuditEvent.id).limit(limit)
    async with db.session() as session:
        return list((await session.scalars(query)).all())


def event_body(row: AuditEvent) -> dict[str, Any]:
    return {"at": row.at.isoformat(), "tag": row.tag, "actor": row.actor, "subject": row.subject,
            "client_id": row.client_id, "ip": row.ip, "detail": row.detail}


async def verify_chain(db: Database) -> tuple[bool, int | None]:
    """Recompute the chain; returns (intact, id of the first broken event)."""
    prev = GENESIS
    async with db.session() as session:
        rows = await session.stream_scalars(select(AuditEvent).order_by(AuditEvent.id))
        async for row in rows:
            if row.prev_hash != prev or chain_hash(prev, event_body(row)) != row.hash:
                return False, row.id
            prev = row.hash
    return True, None


@dataclass(frozen=True, slots=True)
class ChainReport:
    intact: bool
    events: int  # events checked
    broken_id: int | None = None  # the first event that does not verify
    problem: str = ""  # "altered" | "removed_or_reordered" | "tail_removed"
    message: str = ""


async def verify(db: Database) -> ChainReport:
    """`verify_chain`, saying why the first broken event breaks, and checking the head row too, so that
    removing the *last* events (which leaves a valid shorter chain) is caught as well.

    - altered: the event's stored hash is not the hash of its content (a field, or the hash, was changed);
    - removed_or_reordered: the event does not follow the one stored before it (an event before it was removed,
      or two were swapped, or its `prev_hash` was changed);
    - tail_removed: the chain head names a hash no stored event has (the last events were removed).
    The head is read in the same transaction as the events, before them: events appended meanwhile by a
    running server come after the head and are checked like the others.
    """
    prev = GENESIS
    count = 0
    last_id: int | None = None
    async with db.session() as session:
        head = await session.scalar(select(AuditHead.hash).where(AuditHead.id == 1))
        seen_head = head is None or head == GENESIS
        rows = await session.stream_scalars(select(AuditEvent).order_by(AuditEvent.id))
        async for row in rows:
            count += 1
            if row.prev_hash != prev:
                return ChainReport(False, count, row.id, "removed_or_reordered",
                                   f"event {row.id} ({row.tag}) does not follow the event stored before it "
                                   f"(id {last_id}): an event was removed or reordered")
            if chain_hash(prev, event_body(row)) != row.hash:
                return ChainReport(False, count, row.id, "altered", f"event {row.id} ({row.tag}) was altered")
            prev, last_id = row.hash, row.id
            seen_head = seen_head or row.hash == head
    if not seen_head:
        return ChainReport(False, count, last_id, "tail_removed",
                           f"the chain head is no stored event: events after id {last_id} were removed")
    return ChainReport(True, count)
