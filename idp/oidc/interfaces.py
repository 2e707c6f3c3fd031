"""Small storage protocols, one per capability (fosite style). Adapters live outside idp/oidc."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from idp.oidc.jose import PublicKeySet
from idp.oidc.models import Client, Delegated, Grant, RefreshOutcome


class ClientStore(Protocol):
    async def get(self, client_id: str) -> Client | None:
        """The enabled client, or None. Implementations cache: this is on every token request."""

    async def public_keys(self, client: Client) -> PublicKeySet:
        """The client's JWKS (registered inline or fetched from jwks_uri) for private_key_jwt."""


class GrantStore(Protocol):
    async def create(self, grant: Grant, refresh_token_hash: str | None, refresh_expires_at: float) -> None:
        """Persist a new grant and, optionally, its first refresh token (hash only)."""

    async def get(self, grant_id: str) -> Grant | None: ...

    async def rotate_refresh_token(self, token_hash: str, now: float, successor_hash: str,
                                   successor_expires_at: float) -> RefreshOutcome:
        """In one transaction: mark the token used, atomically (a second call for the same token returns status
        `reused`), and, when the outcome is `live`, store its successor (hash only) in the same grant."""

    async def find_refresh_token(self, token_hash: str) -> RefreshOutcome:
        """Read-only lookup for introspection and revocation."""

    async def revoke(self, grant_id: str, reason: str) -> None:
        """Revoke a grant and every refresh token it holds."""

    async def revoke_for_session(self, sid: str, reason: str) -> list[str]:
        """Revoke the session-bound grants (those without offline_access) of an SSO session."""


class ConsentStore(Protocol):
    async def granted_scopes(self, account_id: str, client_id: str) -> frozenset[str]: ...

    async def remember(self, account_id: str, client_id: str, scopes: Iterable[str]) -> None: ...


class AccountStore(Protocol):
    async def is_active(self, account_id: str) -> bool: ...

    async def claims(self, account_id: str, scopes: frozenset[str], requested: frozenset[str],
                     client: Client, *, amr: tuple[str, ...] = ()) -> dict[str, Any]:
        """Claims for these scopes plus individually requested claim names (OIDC `claims` parameter).
        `amr` says how the person signed in, for claims that report it (PSC `authMode`)."""


class AuditSink(Protocol):
    def record(self, tag: str, *, actor: str | None = None, subject: str | None = None,
               client_id: str | None = None, ip: str | None = None, **detail: Any) -> None:
        """Queue an audit event (`source:subject:action` tag). Never blocks the request."""

    def count(self, tag: str, *, client_id: str | None) -> None:
        """Count a high-volume machine-to-machine event; written as one event per client and interval."""


class DelegationRefused(Exception):
    """A delegation does not authorise what was asked: `rule` names the rule (e.g. `delegation_revoked`),
    `description` says it in a sentence fit for an `error_description`."""

    def __init__(self, rule: str, description: str) -> None:
        super().__init__(description)
        self.rule = rule
        self.description = description


class DelegationPort(Protocol):
    """What the protocol engine asks the delegation domain. Absent (None) when the domain is switched off: then
    no flow offers "act as", and a token naming a delegation is refused."""

    async def rights(self, delegation_id: str, actor_id: str, scopes: frozenset[str] | None, *,
                     act_depth: int = 1) -> Delegated:
        """The actor's rights for the principal now (∩ `scopes` when given), or `DelegationRefused`. Checked at
        every issuance, refresh, exchange, userinfo and introspection: a revocation takes effect at once."""

    async def offers(self, actor_id: str) -> list[Delegated]:
        """The delegations `actor_id` may use now, with everything each delegates (the "act as" choices)."""
