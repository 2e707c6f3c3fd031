"""Durable client registrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, UTCDateTime, utcnow


class ClientRecord(Base):
    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # HMAC-SHA256(server secret, client_secret), hex; None for public and private_key_jwt clients.
    secret_hash: Mapped[str | None] = mapped_column(String(128), default=None)
    # "client_secret_basic" | "client_secret_post" | "private_key_jwt" | "none"
    auth_method: Mapped[str] = mapped_column(String(40))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[str] = mapped_column(String(2000))
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000), default=None)
    # "pairwise" (default) | "public"
    subject_type: Mapped[str] = mapped_column(String(20), default="pairwise")
    sector_identifier: Mapped[str | None] = mapped_column(String(300), default=None)
    # Skip the consent page (first-party portals); consent is still recorded.
    first_party: Mapped[bool] = mapped_column(default=False)
    # Who signs in through this client: "citizen", "professional", or "citizen professional". It chooses the
    # sign-in methods the page offers first (a patient portal never shows a card PIN field).
    audiences: Mapped[str] = mapped_column(String(40), default="citizen", server_default="citizen")
    enabled: Mapped[bool] = mapped_column(default=True)
    # An admin API client limited to one structure: its `admin:delegations` scope covers only the assistant
    # delegations whose `context` is this structure id. None: no such limit.
    admin_structure: Mapped[str | None] = mapped_column(String(300), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
