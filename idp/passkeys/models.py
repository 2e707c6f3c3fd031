"""Durable passkey state: registered WebAuthn credentials, and each account's WebAuthn user handle."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, UTCDateTime, utcnow

__all__ = ["PasskeyUserHandle", "WebAuthnCredential"]


def _new_id() -> str:
    return uuid.uuid4().hex


class PasskeyUserHandle(Base):
    """The WebAuthn user id for an account: 32 random bytes, so authenticators (and anyone reading one) never
    learn our account id; a discoverable credential's assertion returns it and we map it back here."""

    __tablename__ = "passkey_user_handles"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    user_handle: Mapped[bytes] = mapped_column(LargeBinary(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebAuthnCredential(Base):
    __tablename__ = "webauthn_credentials"

    # Our own id for URLs and the management page; the raw credential id is the authenticator's.
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # WebAuthn allows up to 1023 bytes; it is the lookup key at sign-in, so unique across all accounts.
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key as registered
    sign_count: Mapped[int] = mapped_column(default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    aaguid: Mapped[str] = mapped_column(String(36))
    attestation_fmt: Mapped[str] = mapped_column(String(32))
    # The highest acr a sign-in with this key can earn, fixed by the attestation policy at registration.
    acr: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    backup_eligible: Mapped[bool] = mapped_column(default=False)
    backed_up: Mapped[bool] = mapped_column(default=False)
    uv_at_registration: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


Index("ix_webauthn_credentials_account", WebAuthnCredential.account_id)
