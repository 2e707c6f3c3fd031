"""The "who acted for me" page's source: every sign-in and token made on a principal's behalf, read from the
audit trail.

The token side records, under the principal as `subject`:
- `delegation:acting:chosen`: a delegate chose, on the "act as" page, to act for the principal at a client
  (`actor` = the delegate's account id, `client_id`, `delegation_id`);
- `delegation:token:issued`: a token was issued under a delegation (`actor`, `client_id`, and in the detail
  `delegation_id`, `scopes`, `grant_type`).

The audit table is the source because it is the one record nobody can quietly edit (hash chain, `audit verify`):
what the principal sees is what an auditor sees. Newest first, by keyset on the event id (`before`), so a page
costs the same on the thousandth page: `subject` is indexed, and ids only grow. Events are written by a
background task within a fraction of a second (idp/audit.py), so an event can appear a moment after the fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from idp.audit import AuditEvent
from idp.db import Database

__all__ = ["ACTING_CHOSEN", "PAGE_SIZE", "TAGS", "TOKEN_ISSUED", "ActedFor", "HistoryPage", "acted_for"]

ACTING_CHOSEN = "delegation:acting:chosen"
TOKEN_ISSUED = "delegation:token:issued"
TAGS = (ACTING_CHOSEN, TOKEN_ISSUED)
PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class ActedFor:
    id: int  # the audit event id (the cursor of the next page)
    at: datetime
    tag: str
    actor_id: str | None
    client_id: str | None
    delegation_id: str | None
    scopes: tuple[str, ...]
    grant_type: str | None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: tuple[ActedFor, ...]
    older: int | None  # pass as `before` for the next (older) page; None on the last page


def _scopes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, (list, tuple)):
        return tuple(str(scope) for scope in value)
    return ()


def _entry(row: AuditEvent) -> ActedFor:
    detail = row.detail or {}
    return ActedFor(id=row.id, at=row.at, tag=row.tag, actor_id=row.actor, client_id=row.client_id,
                    delegation_id=detail.get("delegation_id"), scopes=_scopes(detail.get("scopes")),
                    grant_type=detail.get("grant_type"))


async def acted_for(db: Database, principal_id: str, *, before: int | None = None,
                    limit: int = PAGE_SIZE) -> HistoryPage:
    """One page of what was done for `principal_id`, newest first; `before`: only events older than that id."""
    limit = max(1, min(limit, 100))
    query = select(AuditEvent).where(AuditEvent.subject == principal_id, AuditEvent.tag.in_(TAGS))
    if before is not None:
        query = query.where(AuditEvent.id < before)
    async with db.session() as session:
        rows = list(await session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    entries = tuple(_entry(row) for row in rows[:limit])
    return HistoryPage(entries, entries[-1].id if len(rows) > limit else None)
