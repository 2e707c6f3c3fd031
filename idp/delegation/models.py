"""Durable delegations: who may act (`delegate_id`), for whom (`principal_id`), how (`kind`, `scopes`, `context`)
and until when (`valid_from`, `valid_until`), plus the notifications a principal receives about them.

Reads the hot paths need, and the index serving each:
- `check(delegation_id, …)` at token issuance, introspection and refresh: the primary key, joined to the two
  accounts by theirs. One row whatever the principal holds: a clinic with 10,000 delegations costs the same.
- "active delegations held by delegate X" (`active_for`): `ix_delegations_delegate` (delegate_id, status,
  valid_until).
- "delegations of principal P" (lists, the redelegation check): `ix_delegations_principal` (principal_id,
  status); "does D hold one from P" (`ix_delegations_pair`) stays a two-key probe for a principal with 10,000.
- the lapse job ("active, ended before now"): `ix_delegations_lapse` (status, valid_until).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, UTCDateTime, utcnow

__all__ = ["Delegation", "DelegationNotification"]


def new_id() -> str:
    return uuid.uuid4().hex


class Delegation(Base):
    __tablename__ = "delegations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    principal_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    delegate_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # "assistant" | "guardian" | "proxy"
    scopes: Mapped[list[str]] = mapped_column(JSON)
    context: Mapped[str | None] = mapped_column(String(300), default=None)  # assistant: the structure id
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    # "pending" | "active" | "declined" | "revoked" | "expired"
    status: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(10))  # "self" | "admin" | "registry"
    created_by: Mapped[str] = mapped_column(String(200))  # an account id, or "admin:<name>" / "registry"
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)  # accepted or declined
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(200), default=None)
    revocation_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    expiry_reason: Mapped[str | None] = mapped_column(String(40), default=None)  # the rule that ended it
    # Guardians, at and after the age limit where the jurisdiction asks for it: the teenager's consent. Consent
    # holds while `teen_consent_at` is later than `teen_consent_withdrawn_at` (a re-consent keeps the history).
    teen_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    teen_consent_withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


Index("ix_delegations_delegate", Delegation.delegate_id, Delegation.status, Delegation.valid_until)
Index("ix_delegations_principal", Delegation.principal_id, Delegation.status)
Index("ix_delegations_pair", Delegation.principal_id, Delegation.delegate_id)
Index("ix_delegations_lapse", Delegation.status, Delegation.valid_until)


class DelegationNotification(Base):
    """An outbox of messages to a person about delegations made for them by someone else. Nothing sends them
    yet: a page lists them (newest first) and marks them read; a mailer can drain unread ones later."""

    __tablename__ = "delegation_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    delegation_id: Mapped[str] = mapped_column(ForeignKey("delegations.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))  # the audit tag, e.g. "delegation:created"
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


Index("ix_delegation_notifications_account", DelegationNotification.account_id, DelegationNotification.id)
Index("ix_delegation_notifications_delegation", DelegationNotification.delegation_id)
