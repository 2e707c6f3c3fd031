"""What the passkey service hands to its callers (views, login flow, audit): plain, immutable values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from idp.oidc.assurance import Assurance
from idp.passkeys.models import WebAuthnCredential

__all__ = ["AuthResult", "Ceremony", "ChallengeSource", "Clock", "CredentialSummary"]

Clock = Callable[[], datetime]
"""Current UTC time (timezone-aware)."""

ChallengeSource = Callable[[], bytes]
"""Fresh random challenge bytes; injectable so tests can replay a recorded browser response."""


class Ceremony(NamedTuple):
    """A begun registration or sign-in: the options for `navigator.credentials` and the id to finish it with."""

    options_json: str
    ceremony_id: str


@dataclass(frozen=True, slots=True)
class AuthResult:
    account_id: str
    credential: WebAuthnCredential
    assurance: Assurance
    user_verified: bool

    @property
    def acr(self) -> str:
        return self.assurance.acr

    @property
    def amr(self) -> tuple[str, ...]:
        return self.assurance.amr


@dataclass(frozen=True, slots=True)
class CredentialSummary:
    """One row of the "your security keys" page."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool
    acr: str
    aaguid: str
