"""The protocol engine's configuration and dependencies, assembled once by `create_app`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from idp.oidc import paths
from idp.oidc.assurance import ACR_LEVELS
from idp.oidc.interfaces import AccountStore, AuditSink, ClientStore, ConsentStore, DelegationPort, GrantStore
from idp.oidc.keystore import KeyStore
from idp.store import EphemeralStore


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    issuer: str
    code_ttl: int = 60
    access_token_ttl: int = 600
    id_token_ttl: int = 600
    refresh_token_ttl: int = 86400
    grant_absolute_ttl: int = 2592000
    offline_grant_absolute_ttl: int = 15552000
    interaction_ttl: int = 900
    session_idle_ttl: int = 1800
    session_absolute_ttl: int = 43200
    # eidas3 sessions are short: 15 min idle.
    session_idle_ttl_high: int = 900
    # A new authenticator may be bound only from a sign-in at most this old (seconds).
    binding_max_age: int = 600
    scopes_supported: tuple[str, ...] = ("openid", "profile", "email", "offline_access")
    claims_supported: tuple[str, ...] = ()
    acr_values_supported: tuple[str, ...] = ACR_LEVELS
    default_acr: str = "eidas1"

    @property
    def authorization_endpoint(self) -> str:
        return self.issuer + paths.AUTHORIZE

    @property
    def token_endpoint(self) -> str:
        return self.issuer + paths.TOKEN

    @property
    def userinfo_endpoint(self) -> str:
        return self.issuer + paths.USERINFO

    @property
    def jwks_uri(self) -> str:
        return self.issuer + paths.JWKS

    @property
    def introspection_endpoint(self) -> str:
        return self.issuer + paths.INTROSPECT

    @property
    def revocation_endpoint(self) -> str:
        return self.issuer + paths.REVOKE

    @property
    def end_session_endpoint(self) -> str:
        return self.issuer + paths.END_SESSION


@dataclass(frozen=True, slots=True)
class ProviderKeys:
    """HMAC keys derived from the server secret, one per purpose."""

    client_secret: bytes
    pairwise: bytes
    token_hash: bytes


class VerifiedTokens:
    """Access tokens this process has verified (signature, `typ`, issuer), with their claims and `kid`.

    Userinfo and introspection see the same token many times over its life (a portal calls userinfo per page;
    a resource server introspects per request), and an ES256 verification is most of what such a call costs.
    Only the exact token string that was verified is found here, and its key must still be published for the
    entry to count; expiry and revocation are still checked at every use. First in, first out past `size`.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: dict[str, tuple[str, dict[str, Any]]] = {}

    def get(self, token: str) -> tuple[str, dict[str, Any]] | None:
        return self._entries.get(token)

    def put(self, token: str, kid: str, claims: dict[str, Any]) -> None:
        if self._size <= 0:
            return
        if len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = (kid, claims)


@dataclass(slots=True)
class Provider:
    config: ProviderConfig
    clients: ClientStore
    grants: GrantStore
    consents: ConsentStore
    accounts: AccountStore
    store: EphemeralStore
    keystore: KeyStore
    keys: ProviderKeys
    audit: AuditSink
    clock: Callable[[], float] = field(default=time.time)
    # Set by the delegation domain when it is on (idp/delegation/views.py).
    delegations: DelegationPort | None = None
    # Our access tokens whose signature, type and issuer were checked here already (idp/oidc/access.py).
    verified: VerifiedTokens = field(default_factory=lambda: VerifiedTokens())

    def now(self) -> int:
        return int(self.clock())
