"""Durable grant state. Refresh tokens are stored as SHA-256 hashes; the raw value exists only on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, UTCDateTime, utcnow


class GrantRecord(Base):
    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(2000))
    claims: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    sid: Mapped[str | None] = mapped_column(String(64), default=None)
    acr: Mapped[str] = mapped_column(String(20))
    amr: Mapped[list[str]] = mapped_column(JSON)
    auth_time: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(60), default=None)
    # Acting under a delegation: `account_id` is the actor (who signed in), `principal_id` whom they act for.
    delegation_id: Mapped[str | None] = mapped_column(String(32), default=None)
    principal_id: Mapped[str | None] = mapped_column(String(32), default=None)


class RefreshTokenRecord(Base):
    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set once, atomically, when the token is exchanged: a second use is reuse and revokes the grant.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


Index("ix_refresh_tokens_grant", RefreshTokenRecord.grant_id)
Index("ix_grants_account", GrantRecord.account_id)
Index("ix_grants_sid", GrantRecord.sid)
Index("ix_grants_delegation", GrantRecord.delegation_id)
