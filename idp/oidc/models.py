"""Plain data the protocol engine works on. No framework, no ORM: storage adapters build these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Scopes Mandat itself understands; a client's allow-list narrows them, domain packages may add more.
STANDARD_SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")

# Who signs in through a client: it decides which sign-in methods the page offers first.
CITIZEN, PROFESSIONAL = "citizen", "professional"
AUDIENCES = (CITIZEN, PROFESSIONAL)

# RFC 8693 token exchange: its grant type and the one token type Mandat takes and issues.
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    auth_method: str  # client_secret_basic | client_secret_post | private_key_jwt | none
    redirect_uris: tuple[str, ...]
    scopes: frozenset[str]
    grant_types: frozenset[str]
    secret_hash: str | None = None
    post_logout_redirect_uris: tuple[str, ...] = ()
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    subject_type: str = "pairwise"
    sector_identifier: str | None = None
    first_party: bool = False
    # Who signs in through this client ("citizen", "professional"); the first decides the sign-in page's primary way.
    audiences: tuple[str, ...] = (CITIZEN,)

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"


@dataclass(frozen=True, slots=True)
class OidcRequest:
    """A normalised HTTP request: single-valued parameters, lower-case header names."""

    method: str
    params: Mapping[str, str]
    headers: Mapping[str, str] = field(default_factory=dict)
    client_ip: str = ""
    # Names that appeared more than once: RFC 6749 §3.1 forbids repeating a parameter.
    repeated: frozenset[str] = frozenset()
    endpoint_url: str = ""

    def get(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None


@dataclass(frozen=True, slots=True)
class Authentication:
    """What we know about how the person authenticated (an SSO session, or a fresh login)."""

    account_id: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    sid: str


@dataclass(slots=True)
class AuthorizationRequest:
    """A validated authorization request, stored with the interaction while the person logs in/consents."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    response_mode: str
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    acr_values: tuple[str, ...] = ()
    claims: dict[str, Any] | None = None
    login_hint: str | None = None
    ui_locales: tuple[str, ...] = ()
    # The principal (their `sub` as this client knows it) the client asks the person to act for.
    on_behalf_of: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id, "redirect_uri": self.redirect_uri, "scopes": list(self.scopes),
            "state": self.state, "nonce": self.nonce, "code_challenge": self.code_challenge,
            "response_mode": self.response_mode, "prompt": sorted(self.prompt), "max_age": self.max_age,
            "acr_values": list(self.acr_values), "claims": self.claims, "login_hint": self.login_hint,
            "ui_locales": list(self.ui_locales), "on_behalf_of": self.on_behalf_of,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuthorizationRequest:
        return cls(
            client_id=data["client_id"], redirect_uri=data["redirect_uri"], scopes=tuple(data["scopes"]),
            state=data["state"], nonce=data["nonce"], code_challenge=data["code_challenge"],
            response_mode=data["response_mode"], prompt=frozenset(data["prompt"]), max_age=data["max_age"],
            acr_values=tuple(data["acr_values"]), claims=data["claims"], login_hint=data["login_hint"],
            ui_locales=tuple(data["ui_locales"]), on_behalf_of=data.get("on_behalf_of"),
        )


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    client_id: str
    account_id: str
    scopes: tuple[str, ...]
    acr: str
    amr: tuple[str, ...]
    auth_time: int
    sid: str | None
    expires_at: float
    revoked: bool = False
    claims: dict[str, Any] | None = None
    # Acting under a delegation: `account_id` is the actor who signed in, `principal_id` whom the tokens are for.
    delegation_id: str | None = None
    principal_id: str | None = None

    @property
    def subject_id(self) -> str:
        """The account the access token is about (`sub`): the principal when acting for someone."""
        return self.principal_id or self.account_id


@dataclass(frozen=True, slots=True)
class Delegated:
    """What a delegation lets an actor do for a principal right now, as the delegation domain answers it
    (`DelegationPort`): the effective scopes (principal ∩ delegation ∩ the actor's role ∩ what was asked) and
    when that answer stops holding at the latest (tokens never outlive it)."""

    delegation_id: str
    principal_id: str
    kind: str
    scopes: frozenset[str]
    until: float


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """A refresh token looked up, or atomically marked used. `status`: ok | reused | unknown."""

    status: str
    grant: Grant | None = None
    client_id: str | None = None
    expires_at: float = 0.0

    def live(self, now: float) -> bool:
        """Unused (or used just now by this call), unexpired, and its grant neither revoked nor expired."""
        return (self.status == "ok" and self.grant is not None and not self.grant.revoked
                and self.expires_at > now and self.grant.expires_at > now)


@dataclass(frozen=True, slots=True)
class Redirect:
    """Where the authorization endpoint sends the browser, and how (query, or an auto-posting form)."""

    url: str
    params: dict[str, str]
    response_mode: str


@dataclass(frozen=True, slots=True)
class NeedsInteraction:
    """The person must log in or consent: the HTTP layer sends the browser to /interaction/{uid}."""

    uid: str
    browser_binding: str
