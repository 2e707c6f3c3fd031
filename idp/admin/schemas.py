"""The admin API's request and response models (pydantic v2). The OpenAPI document is generated from these very
classes (idp/admin/openapi.py), so the description cannot drift from what the handlers accept and return.

Requests forbid unknown fields and are validated strictly (JSON types are not coerced); query strings are parsed
from text, so their models coerce (`limit=20`). Every string an administrator can send is bounded and free of
control characters; instants must carry a time zone and fall between the years 1900 and 2999.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
)

__all__ = [
    "AccountList", "AccountOut", "AccountQuery", "AuditEventOut", "AuditExport", "AuditExportQuery", "AuditList",
    "AuditQuery",
    "ClientCreate", "ClientList", "ClientOut", "ClientUpdate", "ClientWithSecret", "CredentialList",
    "CredentialOut", "DelegationCreate", "DelegationList", "DelegationOut", "DelegationQuery", "FieldError",
    "KeyList", "KeyOut", "KeyRotate", "NoQuery", "OptionalReason", "PageQuery", "Problem", "Reason",
    "SecretOut", "SessionsRevoked",
]

# --- constrained values -----------------------------------------------------------------------------------------

NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"
IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9._:@+~-]*$"  # client ids the API creates and addresses (no '/', no '..')
ROW_ID = r"^[A-Za-z0-9_-]+$"  # account and delegation ids
SCOPE = r"^[\x21\x23-\x5b\x5d-\x7e]+$"  # RFC 6749 §3.3 scope-token

ClientId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=IDENTIFIER)]
RowId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ROW_ID)]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=SCOPE)]
Uri = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NO_CONTROL)]
Structure = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=NO_CONTROL)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_CONTROL)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_CONTROL)]
SOME_TEXT = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"  # not only spaces
ReasonText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500,
                                              pattern=SOME_TEXT)]


RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: object) -> object:
    # Only RFC 3339 text: pydantic would otherwise read a number ("0.5") as a Unix time.
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with a time zone, e.g. 2026-03-10T12:00:00Z")
    return datetime.fromisoformat(value.upper())


def _in_range(value: datetime) -> datetime:
    # Far years overflow date arithmetic (a period's end, a time-zone shift): refused here, not deep inside.
    if not 1900 <= value.year <= 2999:
        raise ValueError("must be between the years 1900 and 2999")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_range)]

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
GrantType = Literal["authorization_code", "refresh_token", "client_credentials",
                    "urn:ietf:params:oauth:grant-type:token-exchange"]
Audience = Literal["citizen", "professional"]
DelegationKind = Literal["assistant", "guardian", "proxy"]
DelegationStatus = Literal["pending", "active", "declined", "revoked", "expired"]
AccountKind = Literal["citizen", "professional", "staff", "operator"]
AccountStatus = Literal["active", "locked", "disabled"]
KeyState = Literal["active", "pending", "published", "expired"]


def _citizens() -> list[Audience]:
    return ["citizen"]


class Body(BaseModel):
    """A JSON request body: unknown fields refused, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Query parameters: unknown ones refused; values are text, so numbers and instants are parsed."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- shared -------------------------------------------------------------------------------------------------------

class NoQuery(Query):
    """Routes without query parameters still refuse unknown ones."""


class PageQuery(Query):
    limit: int = Field(50, ge=1, le=200, description="Items per page (1-200).")
    cursor: str | None = Field(None, min_length=3, max_length=1000, pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
                               description="`next_cursor` of the previous page; absent for the first page.")


class Reason(Body):
    reason: ReasonText = Field(description="Why: kept in the audit trail with the admin client's id.")


class OptionalReason(Body):
    reason: ReasonText | None = Field(None, description="Why: kept in the audit trail with the admin client's id.")


class FieldError(Out):
    field: str = Field(description="Dotted path of the body field, or the query parameter or header name.")
    message: str


class Problem(Out):
    """RFC 9457 problem details."""

    type: str = Field(description="Stable URI of the kind of problem: urn:mandat:problem:<name>.")
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = Field(None, description="validation: each invalid field.")
    rule: str | None = Field(None, description="policy-refused: the delegation rule that refused.")
    scope: str | None = Field(None, description="forbidden: the scope this route needs.")


# --- clients ------------------------------------------------------------------------------------------------------

class ClientCreate(Body):
    client_id: ClientId
    name: Name | None = Field(None, description="Shown on consent pages; the client_id when absent.")
    redirect_uris: list[Uri] = Field(default_factory=list, max_length=20)
    post_logout_redirect_uris: list[Uri] = Field(default_factory=list, max_length=20)
    scopes: list[Scope] = Field(default_factory=list, max_length=100,
                                description="Allowed scopes, e.g. admin:delegations for an admin client.")
    grant_types: list[GrantType] | None = Field(
        None, min_length=1, max_length=4,
        description="Default: authorization_code and refresh_token with redirect URIs, else client_credentials.")
    auth_method: AuthMethod = "client_secret_basic"
    jwks: dict[str, Any] | None = Field(None, description="private_key_jwt: the client's public keys.")
    jwks_uri: Uri | None = Field(None, description="private_key_jwt: where to fetch the client's public keys.")
    subject_type: Literal["pairwise", "public"] = "pairwise"
    sector_identifier: Structure | None = None
    first_party: bool = False
    audiences: list[Audience] = Field(default_factory=_citizens, min_length=1, max_length=2)
    admin_structure: Structure | None = Field(
        None, description="Limit admin:delegations to the assistant delegations of this structure id.")
    reason: ReasonText | None = None


class ClientUpdate(Body):
    """Only the fields present change. `null` clears a nullable field (admin_structure, jwks, jwks_uri,
    sector_identifier)."""

    name: Name = Field(None)  # type: ignore[assignment]  # absent: unchanged; null is refused
    redirect_uris: list[Uri] = Field(None, max_length=20)  # type: ignore[arg-type]
    post_logout_redirect_uris: list[Uri] = Field(None, max_length=20)  # type: ignore[arg-type]
    scopes: list[Scope] = Field(None, max_length=100)  # type: ignore[arg-type]
    grant_types: list[GrantType] = Field(None, min_length=1, max_length=4)  # type: ignore[arg-type]
    auth_method: AuthMethod = Field(None)  # type: ignore[arg-type]
    jwks: dict[str, Any] | None = None
    jwks_uri: Uri | None = None
    subject_type: Literal["pairwise", "public"] = Field(None)  # type: ignore[arg-type]
    sector_identifier: Structure | None = None
    first_party: bool = Field(None)  # type: ignore[assignment]
    audiences: list[Audience] = Field(None, min_length=1, max_length=2)  # type: ignore[arg-type]
    admin_structure: Structure | None = None
    reason: ReasonText | None = None


class ClientOut(Out):
    client_id: str
    name: str
    auth_method: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    scopes: list[str]
    grant_types: list[str]
    jwks: dict[str, Any] | None
    jwks_uri: str | None
    subject_type: str
    sector_identifier: str | None
    first_party: bool
    audiences: list[str]
    enabled: bool
    admin_structure: str | None
    created_at: datetime
    updated_at: datetime


class ClientWithSecret(ClientOut):
    client_secret: str | None = Field(
        description="Shown once, in this response only (and its idempotent replays); only a keyed hash is kept. "
        "null for clients without a secret (private_key_jwt, public).")


class SecretOut(Out):
    client_id: str
    client_secret: str = Field(description="Shown once; the previous secret stops working.")


class ClientList(Out):
    items: list[ClientOut]
    next_cursor: str | None


# --- accounts -----------------------------------------------------------------------------------------------------

class AccountQuery(PageQuery):
    q: Text | None = Field(None, description="A username, national id or insurance number (spaces ignored), or "
                           "words that each appear in the given name, family name or username.")


class AccountOut(Out):
    id: str
    username: str
    kind: str
    status: str
    given_name: str | None
    family_name: str | None
    email: str | None
    birthdate: date | None
    national_id: str | None
    identity_status: str | None = Field(description="Enrolled citizens: VALI or QUAL (insurer registry).")
    managed: bool = Field(description="A child's account kept from the registry (no password of its own yet).")
    created_at: datetime
    updated_at: datetime


class AccountList(Out):
    items: list[AccountOut]
    next_cursor: str | None


class CredentialOut(Out):
    type: Literal["password", "passkey", "card"]
    id: str | None = Field(description="passkey: the credential's id.")
    name: str | None = Field(description="passkey: the name its owner gave it.")
    acr: str | None = Field(description="The assurance level a sign-in with it reaches (passkey, card).")
    aaguid: str | None = Field(description="passkey: the authenticator model.")
    national_id: str | None = Field(description="card: the professional's national id (RPPS-based).")
    created_at: datetime | None
    last_used_at: datetime | None


class CredentialList(Out):
    items: list[CredentialOut]
    next_cursor: str | None = Field(description="Always null: an account has few credentials.")


class SessionsRevoked(Out):
    account_id: str
    grants_revoked: int = Field(description="Grants (and so refresh tokens) revoked.")


# --- delegations --------------------------------------------------------------------------------------------------

class DelegationCreate(Body):
    kind: DelegationKind
    principal_id: RowId = Field(description="The account acted for (an id from GET /accounts).")
    delegate_id: RowId = Field(description="The account that acts.")
    scopes: list[Scope] = Field(min_length=1, max_length=50)
    context: Structure | None = Field(None, description="assistant: the structure (place of practice) id.")
    valid_from: Instant | None = Field(None, description="Default: now.")
    valid_until: Instant | None = Field(None, description="Default: the longest the kind allows.")
    reason: ReasonText


class DelegationQuery(PageQuery):
    principal_id: RowId | None = None
    delegate_id: RowId | None = None
    kind: DelegationKind | None = None
    status: DelegationStatus | None = None


class DelegationOut(Out):
    id: str
    principal_id: str
    delegate_id: str
    kind: str
    scopes: list[str]
    context: str | None
    valid_from: datetime
    valid_until: datetime
    status: str
    source: str
    created_by: str
    reason: str | None
    created_at: datetime
    updated_at: datetime
    responded_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    revocation_reason: str | None
    expired_at: datetime | None
    expiry_reason: str | None
    teen_consent_at: datetime | None
    teen_consent_withdrawn_at: datetime | None
    teen_consents: bool


class DelegationList(Out):
    items: list[DelegationOut]
    next_cursor: str | None


# --- audit ----------------------------------------------------------------------------------------------------------

class AuditExportQuery(Query):
    subject: Text | None = Field(None, description="Whom the event is about (an account id, a client id).")
    actor: Text | None = Field(None, description="Who acted: an account id, `admin:<client_id>`, a job.")
    type: Text | None = Field(None, description="The event tag (`delegation:created`), or a prefix ending with "
                              "':' (`delegation:`).")
    since: Instant | None = Field(None, description="Events at or after this instant.")
    until: Instant | None = Field(None, description="Events before this instant.")


class AuditQuery(AuditExportQuery, PageQuery):
    """Newest first; later pages go back in time, so events written meanwhile never shift them."""


class AuditEventOut(Out):
    id: int
    at: datetime
    tag: str
    actor: str | None
    subject: str | None
    client_id: str | None
    ip: str | None
    detail: dict[str, Any]
    prev_hash: str = Field(description="The hash of the event before it in the chain.")
    hash: str = Field(description="SHA-256 over prev_hash and the event's canonical JSON.")


class AuditList(Out):
    items: list[AuditEventOut]
    next_cursor: str | None


class AuditExport(RootModel[list[AuditEventOut]]):
    """NDJSON: one AuditEventOut per line. Described as the array of the lines (OpenAPI 3.1 has no schema for
    a sequence of documents)."""


# --- keys -----------------------------------------------------------------------------------------------------------

class KeyOut(Out):
    kid: str
    alg: str
    state: KeyState
    created_at: datetime
    not_before: datetime = Field(description="When it starts (or started) signing; published from creation.")
    public_jwk: dict[str, Any]


class KeyList(Out):
    items: list[KeyOut]
    next_cursor: str | None = Field(description="Always null: a handful of keys.")


class KeyRotate(Body):
    activation_delay: int | None = Field(
        None, ge=0, le=30 * 86400,
        description="Seconds before the new key signs (default MANDAT_KEY_ACTIVATION_DELAY), so relying parties "
        "that cache /jwks see it first.")
    reason: ReasonText | None = None
