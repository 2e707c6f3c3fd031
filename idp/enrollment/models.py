"""Durable enrollment state: the insurer registry, parental links, mailed security codes and the letters outbox."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, UTCDateTime, utcnow

__all__ = ["OutboxLetter", "RegistryLink", "RegistryRecord", "SecurityCode"]


class RegistryRecord(Base):
    """One insured person as the insurer knows them. Replaced wholesale by `registry import` (upsert by number)."""

    __tablename__ = "registry_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Normalised (upper case, no spaces): a NAM (12) or a NIR with its key (15).
    number: Mapped[str] = mapped_column(String(15), unique=True)
    kind: Mapped[str] = mapped_column(String(3))  # "NAM" | "NIR"
    card_sequence: Mapped[str | None] = mapped_column(String(20), default=None)
    card_expiry: Mapped[date | None] = mapped_column(Date, default=None)
    family_name: Mapped[str] = mapped_column(String(200))
    given_names: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))  # "M" | "F" | "X"
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200), default=None)
    postal_code: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    # INSEE codes, as the FranceConnect pivot identity wants them: commune (5) and country (5, "99100" = France).
    birthplace: Mapped[str | None] = mapped_column(String(5), default=None)
    birthcountry: Mapped[str | None] = mapped_column(String(5), default=None)
    # The insurer checked the identity against an official document (INS "qualifiée"): the account gets QUAL.
    qualified: Mapped[bool] = mapped_column(Boolean, default=False)
    # SHA-256 of the imported fields: lets a re-import tell unchanged rows from changed ones in one indexed read.
    row_hash: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RegistryLink(Base):
    """A parental link: `parent_number` is a parent or legal guardian of `child_number`.

    No foreign keys to registry_records: a file may list a child before its parent, and the delegation policy reads
    links by number anyway.
    """

    __tablename__ = "registry_links"
    __table_args__ = (UniqueConstraint("child_number", "parent_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    child_number: Mapped[str] = mapped_column(String(15))
    parent_number: Mapped[str] = mapped_column(String(15), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SecurityCode(Base):
    """A mailed single-use code, stored only as an HMAC (see security_code.py)."""

    __tablename__ = "security_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    registry_number: Mapped[str] = mapped_column(String(15))
    purpose: Mapped[str] = mapped_column(String(10))  # "enrol" | "recover"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Wrong codes typed while this one was current; only a very high ceiling (`code_max_tries`) acts on it: the
    # guesses themselves are slowed per source (guessing.py), so nobody can lock a citizen's code.
    tries: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


Index("ix_security_codes_number_created", SecurityCode.registry_number, SecurityCode.created_at)


class OutboxLetter(Base):
    """A letter waiting for `letters export`, with a snapshot of the name and address it goes to.

    `code_text` is the one place the plain code exists, because it must reach the printed page. It is kept only
    while the letter is pending: `export_letters` clears it in the same transaction that marks the letter sent, and
    a letter whose code was superseded or used before export is cancelled and cleared without being printed. So
    at rest the plain code lives for at most one export cycle. (Encrypting it under the server secret would also
    cover that window; it needs the secret loader the lead is adding, so it is left as a follow-up.)
    """

    __tablename__ = "outbox_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    security_code_id: Mapped[int] = mapped_column(ForeignKey("security_codes.id", ondelete="CASCADE"), index=True)
    registry_number: Mapped[str] = mapped_column(String(15))
    purpose: Mapped[str] = mapped_column(String(10))
    recipient_name: Mapped[str] = mapped_column(String(400))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200), default=None)
    postal_code: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    code_text: Mapped[str | None] = mapped_column(String(32), default=None)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10), default="pending")  # "pending" | "sent" | "cancelled"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


Index("ix_outbox_letters_status", OutboxLetter.status, OutboxLetter.id)
