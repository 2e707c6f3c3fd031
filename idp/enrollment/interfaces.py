"""What the enrollment pages give the service and get back. Plain values: no Starlette, no SQLAlchemy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from idp.accounts.models import Account

__all__ = ["Activation", "Clock", "CodeRequest", "PasswordHasher", "RequestOutcome", "Sleep"]

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
PasswordHasher = Callable[[str], str]  # e.g. the accounts module's argon2id hasher; run in a worker thread


@dataclass(frozen=True, slots=True)
class CodeRequest:
    """The "request a code" form, as typed. Every field is a string; the service validates and names bad fields."""

    number: str
    family_name: str
    given_name: str
    birth_date: str  # YYYY-MM-DD
    card_sequence: str
    card_expiry: str  # YYYY-MM (as printed on Québec cards) or YYYY-MM-DD


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """The one answer to a well-formed request, whether or not a record matched (so it reveals nothing)."""

    message_key: str = "enrollment.code_requested"
    message: str = "If this matches our records, a security code will be mailed to your address on file."


@dataclass(frozen=True, slots=True)
class Activation:
    account: Account
    # True when the account existed: a recovery. The caller must then revoke the person's sessions, refresh
    # tokens and passkeys, as whoever lost the device may hold them.
    recovered: bool
