"""SQL implementation of `idp.oidc.interfaces.GrantStore`.

Refresh-token use is one conditional UPDATE (`… WHERE used_at IS NULL`): the database decides atomically
which of two concurrent presentations wins; the loser sees `reused`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from idp.db import Database, utcnow
from idp.grants.models import GrantRecord, RefreshTokenRecord
from idp.oidc.models import Grant, RefreshOutcome
from idp.stamped import StampedCache
from idp.store import EphemeralStore


def _ts(value: datetime) -> float:
    return value.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def to_grant(record: Any) -> Grant:
    """A Grant from a GrantRecord, or from a Core row with the grants table's column names."""
    return Grant(id=record.id, client_id=record.client_id, account_id=record.account_id,
                 scopes=tuple(record.scope.split()), acr=record.acr, amr=tuple(record.amr),
                 auth_time=record.auth_time, sid=record.sid, expires_at=_ts(record.expires_at),
                 revoked=record.revoked_at is not None, claims=record.claims,
                 delegation_id=record.delegation_id, principal_id=record.principal_id)


# Refresh rotation is on the hot path: Core statements on the tables (no ORM identity map, unit of work or
# synchronize_session pass), run on the session's connection. Measured on SQLite: rotation 1.29 -> 0.45 ms.
_GRANTS: Table = GrantRecord.__table__  # type: ignore[assignment]
_TOKENS: Table = RefreshTokenRecord.__table__  # type: ignore[assignment]
# Built once, with bind parameters: SQLAlchemy then reuses their compiled form and cache key.
_TOKEN_WITH_GRANT = (
    select(_GRANTS, _TOKENS.c.client_id.label("token_client_id"), _TOKENS.c.expires_at.label("token_expires_at"),
           _TOKENS.c.used_at.label("token_used_at"))
    .join_from(_TOKENS, _GRANTS, _GRANTS.c.id == _TOKENS.c.grant_id)
    .where(_TOKENS.c.token_hash == bindparam("token_hash")))
_USE_TOKEN = (update(_TOKENS).where(_TOKENS.c.token_hash == bindparam("used"), _TOKENS.c.used_at.is_(None))
              .values(used_at=bindparam("now")))
_ADD_TOKEN = insert(_TOKENS)


async def _token_with_grant(session: AsyncSession, token_hash: str, status: str | None) -> RefreshOutcome:
    """The refresh token and its grant; `status` None means: read it from the token's `used_at`."""
    connection = await session.connection()
    row = (await connection.execute(_TOKEN_WITH_GRANT, {"token_hash": token_hash})).first()
    if row is None:
        return RefreshOutcome("unknown")
    if status is None:
        status = "reused" if row.token_used_at is not None else "ok"
    return RefreshOutcome(status, to_grant(row), row.token_client_id, _ts(row.token_expires_at))


class SqlGrantStore:
    """`get` (every userinfo and introspection) keeps grants per process under the grant stamp
    (idp/stamped.py): every revocation here renews it once committed, so a revoked grant is refused at the next
    read in every process. `keep_seconds` bounds how long a change made outside this class can go unseen."""

    def __init__(self, db: Database, store: EphemeralStore | None = None, *, keep_seconds: float = 5.0) -> None:
        self._db = db
        self._kept: StampedCache[Grant] | None = (
            StampedCache(store, "grant", max_age=keep_seconds) if store is not None else None)

    async def create(self, grant: Grant, refresh_token_hash: str | None, refresh_expires_at: float) -> None:
        async with self._db.transaction() as session:
            session.add(GrantRecord(id=grant.id, client_id=grant.client_id, account_id=grant.account_id,
                                    scope=" ".join(grant.scopes), claims=grant.claims, sid=grant.sid,
                                    acr=grant.acr, amr=list(grant.amr), auth_time=grant.auth_time,
                                    expires_at=_dt(grant.expires_at), delegation_id=grant.delegation_id,
                                    principal_id=grant.principal_id))
            if refresh_token_hash is not None:
                await session.flush()
                session.add(RefreshTokenRecord(token_hash=refresh_token_hash, grant_id=grant.id,
                                               client_id=grant.client_id, expires_at=_dt(refresh_expires_at)))

    async def get(self, grant_id: str) -> Grant | None:
        async def load() -> Grant | None:
            async with self._db.session() as session:
                record = await session.get(GrantRecord, grant_id)
            return None if record is None else to_grant(record)

        return await (self._kept.get(grant_id, load) if self._kept is not None else load())

    @asynccontextmanager
    async def _revoking(self) -> AsyncIterator[AsyncSession]:
        """A transaction that revokes grants; kept grants go stale when it (or the caller's, joined) commits."""
        async with self._db.transaction() as session:
            if self._kept is not None:
                self._kept.changed_after_commit(session)
            yield session

    async def find_refresh_token(self, token_hash: str) -> RefreshOutcome:
        async with self._db.session() as session:
            return await _token_with_grant(session, token_hash, None)

    async def rotate_refresh_token(self, token_hash: str, now: float, successor_hash: str,
                                   successor_expires_at: float) -> RefreshOutcome:
        # One write transaction, three statements: the conditional UPDATE decides which of two concurrent
        # presentations wins; the grant is read after it, so a revocation committed meanwhile is seen.
        async with self._db.transaction() as session:
            connection = await session.connection()
            result = await connection.execute(_USE_TOKEN, {"used": token_hash, "now": _dt(now)})
            outcome = await _token_with_grant(session, token_hash, "ok" if result.rowcount == 1 else "reused")
            if outcome.live(now):
                assert outcome.grant is not None
                await connection.execute(_ADD_TOKEN, {
                    "token_hash": successor_hash, "grant_id": outcome.grant.id, "client_id": outcome.grant.client_id,
                    "created_at": utcnow(), "expires_at": _dt(successor_expires_at)})
            return outcome

    async def revoke(self, grant_id: str, reason: str) -> None:
        now = utcnow()
        async with self._revoking() as session:
            await session.execute(update(GrantRecord).where(GrantRecord.id == grant_id,
                                                            GrantRecord.revoked_at.is_(None))
                                  .values(revoked_at=now, revoked_reason=reason))
            # Burn every live refresh token of the grant as well.
            await session.execute(update(RefreshTokenRecord).where(RefreshTokenRecord.grant_id == grant_id,
                                                                   RefreshTokenRecord.used_at.is_(None))
                                  .values(used_at=now))

    async def revoke_for_account(self, account_id: str, reason: str) -> list[str]:
        """Revoke every live grant of an account (and so its refresh tokens), in one transaction."""
        now = utcnow()
        async with self._revoking() as session:
            ids = list((await session.scalars(select(GrantRecord.id).where(
                GrantRecord.account_id == account_id, GrantRecord.revoked_at.is_(None)))).all())
            if ids:
                await session.execute(update(GrantRecord).where(GrantRecord.id.in_(ids))
                                      .values(revoked_at=now, revoked_reason=reason))
                await session.execute(update(RefreshTokenRecord).where(RefreshTokenRecord.grant_id.in_(ids),
                                                                       RefreshTokenRecord.used_at.is_(None))
                                      .values(used_at=now))
        return ids

    async def revoke_for_session(self, sid: str, reason: str) -> list[str]:
        async with self._db.session() as session:
            grants = (await session.scalars(select(GrantRecord).where(GrantRecord.sid == sid,
                                                                      GrantRecord.revoked_at.is_(None)))).all()
        ids = [g.id for g in grants if "offline_access" not in g.scope.split()]
        for grant_id in ids:
            await self.revoke(grant_id, reason)
        return ids
