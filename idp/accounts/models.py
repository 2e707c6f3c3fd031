"""Durable account state. An account is one person; their credentials hang off it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, UTCDateTime, utcnow


def new_id() -> str:
    return uuid.uuid4().hex


def display_name(given_name: str | None, family_name: str | None, username: str) -> str:
    """How pages, notices and authenticators name a person: their names, else their username."""
    return " ".join(part for part in (given_name, family_name) if part) or username


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    # "citizen" | "professional" | "staff" | "operator"
    kind: Mapped[str] = mapped_column(String(20), default="citizen")
    # "active" | "locked" | "disabled"
    status: Mapped[str] = mapped_column(String(20), default="active")
    password_hash: Mapped[str | None] = mapped_column(String(300), default=None)
    given_name: Mapped[str | None] = mapped_column(String(200), default=None)
    family_name: Mapped[str | None] = mapped_column(String(200), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    email_verified: Mapped[bool] = mapped_column(default=False)
    birthdate: Mapped[date | None] = mapped_column(Date, default=None)
    gender: Mapped[str | None] = mapped_column(String(20), default=None)
    locale: Mapped[str | None] = mapped_column(String(10), default=None)
    # Identity assurance and domain links, filled by enrollment (citizens) and the directory (professionals).
    identity: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    national_id: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def display_name(self) -> str:
        return display_name(self.given_name, self.family_name, self.username)


class Consent(Base):
    """Remembered consent: one row per scope a person granted one client. Rows are only ever inserted
    (conflicts ignored) or deleted, so two tabs consenting at once cannot lose each other's scopes."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("account_id", "client_id", "scope", name="uq_consents_account_client_scope"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


Index("ix_consents_account", Consent.account_id)
