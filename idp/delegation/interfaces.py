"""What other layers (pages, the token endpoint, introspection, an admin API) give the delegation service and get
back. Plain frozen values: no Starlette, no SQLAlchemy rows ever leave the service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Literal, Protocol

__all__ = [
    "Actor", "Clock", "DelegationChecker", "DelegationFilter", "DelegationKind", "DelegationRequest",
    "DelegationStatus", "DelegationView", "EffectiveRights", "GuardianSync", "NotificationView", "Party",
]

Clock = Callable[[], datetime]
DelegationKind = Literal["assistant", "guardian", "proxy"]
DelegationStatus = Literal["pending", "active", "declined", "revoked", "expired"]
DelegationSource = Literal["self", "admin", "registry"]


@dataclass(frozen=True, slots=True)
class Party:
    """An account as the policy sees it."""

    id: str
    kind: str  # "citizen" | "professional" | "staff" | "operator"
    status: str = "active"
    birthdate: date | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change.

    - a person: `account_id` set; `acting_for` is the principal they currently act for when their session
      itself runs under a delegation (a token with an `act` claim), else None;
    - an administrator: `admin=True`, `label` names them in the audit trail (e.g. "admin:cli").
    """

    account_id: str | None = None
    admin: bool = False
    label: str = ""
    acting_for: str | None = None

    @classmethod
    def person(cls, account_id: str, *, acting_for: str | None = None) -> Actor:
        return cls(account_id=account_id, label=account_id, acting_for=acting_for)

    @classmethod
    def administrator(cls, label: str = "admin") -> Actor:
        return cls(admin=True, label=label if label.startswith("admin") else f"admin:{label}")

    @property
    def name(self) -> str:
        return self.label or self.account_id or "unknown"


@dataclass(frozen=True, slots=True)
class DelegationRequest:
    kind: str
    principal_id: str
    delegate_id: str
    scopes: tuple[str, ...]
    context: str | None = None
    valid_from: datetime | None = None  # default: now
    valid_until: datetime | None = None  # default: the longest the kind allows
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DelegationView:
    id: str
    principal_id: str
    delegate_id: str
    kind: str
    scopes: tuple[str, ...]
    context: str | None
    valid_from: datetime
    valid_until: datetime
    status: str
    source: str
    created_by: str
    reason: str | None
    created_at: datetime
    updated_at: datetime
    responded_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revocation_reason: str | None = None
    expired_at: datetime | None = None
    expiry_reason: str | None = None
    teen_consent_at: datetime | None = None
    teen_consent_withdrawn_at: datetime | None = None

    @property
    def teen_consents(self) -> bool:
        return consent_holds(self.teen_consent_at, self.teen_consent_withdrawn_at)

    def as_json(self) -> dict[str, object]:
        """JSON-ready (ISO 8601 times): what the CLI prints and an API can return."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else (
                list(value) if isinstance(value, tuple) else value)
        out["teen_consents"] = self.teen_consents
        return out


def consent_holds(consent_at: datetime | None, withdrawn_at: datetime | None) -> bool:
    """Consent holds when given and not withdrawn since (a re-consent after a withdrawal holds again)."""
    return consent_at is not None and (withdrawn_at is None or withdrawn_at < consent_at)


@dataclass(frozen=True, slots=True)
class EffectiveRights:
    """What a delegate may do for a principal right now, as a token should carry it."""

    delegation_id: str
    principal_id: str
    delegate_id: str
    kind: str
    context: str | None
    scopes: frozenset[str]  # the principal's rights ∩ the delegation's scopes ∩ the delegate's role ∩ what was asked
    withheld: frozenset[str]  # asked for (or delegated) but not granted now
    until: datetime  # when this answer stops holding at the latest (cap the token's lifetime with it)


@dataclass(frozen=True, slots=True)
class DelegationFilter:
    principal_id: str | None = None
    delegate_id: str | None = None
    status: str | None = None
    kind: str | None = None
    limit: int = 500


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: int
    account_id: str
    delegation_id: str
    event: str
    message: str
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True, slots=True)
class GuardianSync:
    created: int = 0
    managed_accounts: int = 0
    revoked: int = 0
    skipped: int = 0


class DelegationChecker(Protocol):
    """The hot-path seam the token endpoint, introspection and refresh use."""

    async def check(self, delegation_id: str, delegate_id: str, scopes: frozenset[str] | None,
                    at: datetime, *, act_depth: int = 1) -> EffectiveRights: ...

    async def active_for(self, delegate_id: str, at: datetime) -> list[DelegationView]: ...
