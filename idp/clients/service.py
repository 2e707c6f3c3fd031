"""Client registry: registration (secrets generated here, shown once, stored as keyed hashes) and a
per-process cache, so the token endpoint's hot path has no database round trip."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from idp.clients.models import ClientRecord
from idp.db import Database, utcnow
from idp.errors import MandatError
from idp.oidc.client_auth import hash_client_secret
from idp.oidc.jose import JoseFailure, PublicKeySet, import_key_set
from idp.oidc.models import AUDIENCES, CITIZEN, TOKEN_EXCHANGE, Client

# The grants a client may be registered with. No implicit, no password grant (RFC 9700 §2.4).
GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE})
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,200}")
# What `update` may change (the admin API's PATCH and the CLI); the client_id never changes.
UPDATABLE = frozenset({"name", "redirect_uris", "post_logout_redirect_uris", "scopes", "grant_types",
                       "auth_method", "jwks", "jwks_uri", "subject_type", "sector_identifier", "first_party",
                       "audiences", "admin_structure"})
NEGATIVE_CACHE_SECONDS = 5.0
MAX_CACHED = 10_000


class ClientRegistrationError(MandatError):
    """A client registration is invalid; the message says why and `field` names the field."""

    def __init__(self, detail: str = "", *, field: str | None = None, public: str | None = None) -> None:
        super().__init__(detail, public=public)
        self.field = field


class ClientConflict(ClientRegistrationError):
    """The client's state forbids the change: it exists already, is already disabled, or has no secret."""

    status = 409


class UnknownClient(MandatError):
    code = "unknown_client"
    public = "No client has this id."
    status = 404


def to_client(record: ClientRecord) -> Client:
    return Client(
        client_id=record.client_id, name=record.name, auth_method=record.auth_method,
        redirect_uris=tuple(record.redirect_uris), scopes=frozenset(record.scopes.split()),
        grant_types=frozenset(record.grant_types), secret_hash=record.secret_hash,
        post_logout_redirect_uris=tuple(record.post_logout_redirect_uris or ()), jwks=record.jwks,
        jwks_uri=record.jwks_uri, subject_type=record.subject_type, sector_identifier=record.sector_identifier,
        first_party=record.first_party, audiences=tuple(record.audiences.split()) or (CITIZEN,),
    )


def check_audiences(audiences: Sequence[str]) -> tuple[str, ...]:
    """Who signs in through a client: `citizen`, `professional`, or both (the first decides the primary way in)."""
    chosen = tuple(dict.fromkeys(a for value in audiences for a in value.replace(",", " ").split()))
    if not chosen:
        return (CITIZEN,)
    unknown = [a for a in chosen if a not in AUDIENCES]
    if unknown:
        raise ClientRegistrationError(f"unknown audience {unknown[0]!r}: use {' or '.join(AUDIENCES)}",
                                      field="audiences")
    return chosen


def check_redirect_uri(uri: str, field: str = "redirect_uris") -> None:
    """Registration rules (RFC 9700 §4.1): absolute, no fragment; http only for loopback/localhost."""
    try:
        parts = urlsplit(uri)
        hostname = parts.hostname
    except ValueError:  # an unbalanced IPv6 bracket or a bad port
        raise ClientRegistrationError(f"redirect URI {uri!r} is not a valid URI", field=field) from None
    if not parts.scheme or (not parts.netloc and parts.scheme in {"http", "https"}):
        raise ClientRegistrationError(f"redirect URI {uri!r} must be absolute", field=field)
    if parts.fragment:
        raise ClientRegistrationError(f"redirect URI {uri!r} must not have a fragment", field=field)
    if parts.scheme == "http" and hostname not in {"localhost", "127.0.0.1", "::1"}:
        raise ClientRegistrationError(f"redirect URI {uri!r} must use https (http only for localhost)", field=field)


def check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """Scope names as RFC 6749 §3.3 defines them (printable ASCII, no space, quote or backslash)."""
    for scope in scopes:
        if not SCOPE_TOKEN.fullmatch(scope):
            raise ClientRegistrationError(f"scope {scope!r} is not a valid scope name", field="scopes")
    return tuple(dict.fromkeys(scopes))


@dataclass(frozen=True, slots=True)
class ClientDetails:
    """A client as an administrator sees it: the protocol view plus its state (disabled clients included)."""

    client: Client
    enabled: bool
    admin_structure: str | None
    created_at: datetime
    updated_at: datetime


def to_details(record: ClientRecord) -> ClientDetails:
    return ClientDetails(to_client(record), record.enabled, record.admin_structure, record.created_at,
                         record.updated_at)


def check_registration(*, redirect_uris: Sequence[str], scopes: Sequence[str], auth_method: str,
                       grant_types: Sequence[str], post_logout_redirect_uris: Sequence[str],
                       jwks: Mapping[str, Any] | None, jwks_uri: str | None, subject_type: str,
                       sector_identifier: str | None, audiences: Sequence[str], admin_structure: str | None,
                       name: str | None) -> tuple[str, ...]:
    """The rules every registration (new or changed) must pass; returns the audiences. Errors name the field."""
    chosen_audiences = check_audiences(audiences)
    if name is not None and (len(name) > 200 or not name.isprintable()):
        raise ClientRegistrationError("name must be at most 200 printable characters", field="name")
    if auth_method not in AUTH_METHODS:
        raise ClientRegistrationError(f"auth method must be one of {', '.join(AUTH_METHODS)}", field="auth_method")
    unknown = set(grant_types) - GRANT_TYPES
    if unknown:
        raise ClientRegistrationError(f"unsupported grant types: {', '.join(sorted(unknown))}", field="grant_types")
    check_scopes(scopes)
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientRegistrationError("at least one redirect URI is required", field="redirect_uris")
    for uri in redirect_uris:
        check_redirect_uri(uri)
    for uri in post_logout_redirect_uris:
        check_redirect_uri(uri, "post_logout_redirect_uris")
    if subject_type not in {"pairwise", "public"}:
        raise ClientRegistrationError("subject type must be pairwise or public", field="subject_type")
    hosts = {urlsplit(u).hostname for u in redirect_uris}
    if subject_type == "pairwise" and len(hosts) > 1 and not sector_identifier:
        raise ClientRegistrationError("redirect URIs on several hosts need a sector identifier (pairwise)",
                                      field="sector_identifier")
    if auth_method == "private_key_jwt":
        if (jwks is None) == (jwks_uri is None):
            raise ClientRegistrationError("private_key_jwt needs exactly one of --jwks or --jwks-uri", field="jwks")
        if jwks is not None:
            try:
                import_key_set(dict(jwks))
            except JoseFailure as exc:
                raise ClientRegistrationError(f"invalid JWKS: {exc.reason}", field="jwks") from None
    if auth_method == "none" and "client_credentials" in grant_types:
        raise ClientRegistrationError("public clients cannot use client_credentials", field="grant_types")
    if auth_method == "none" and TOKEN_EXCHANGE in grant_types:
        raise ClientRegistrationError("public clients cannot use token exchange: it needs client authentication",
                                      field="grant_types")
    if admin_structure is not None and (not admin_structure or len(admin_structure) > 300
                                        or not admin_structure.isprintable()):
        raise ClientRegistrationError("admin structure must be 1-300 printable characters", field="admin_structure")
    return chosen_audiences


@dataclass(frozen=True, slots=True)
class NewClient:
    client: Client
    secret: str | None


@dataclass(frozen=True, slots=True)
class UpdatedClient:
    details: ClientDetails
    secret: str | None  # set when the change gave the client a secret it did not have (shown once)


class ClientRegistry:
    """Implements `idp.oidc.interfaces.ClientStore` over SQL, with a bounded TTL cache."""

    def __init__(self, db: Database, secret_key: bytes, *, cache_seconds: float = 30.0,
                 http: httpx.AsyncClient | None = None) -> None:
        self._db = db
        self._secret_key = secret_key
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Client | None]] = {}
        self._jwks_cache: dict[str, tuple[float, PublicKeySet]] = {}
        self._http = http

    async def get(self, client_id: str) -> Client | None:
        now = time.monotonic()
        cached = self._cache.get(client_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._db.session() as session:
            record = await session.get(ClientRecord, client_id)
        client = to_client(record) if record is not None and record.enabled else None
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        ttl = self._cache_seconds if client is not None else min(self._cache_seconds, NEGATIVE_CACHE_SECONDS)
        self._cache[client_id] = (now + ttl, client)
        return client

    def forget(self, client_id: str) -> None:
        self._cache.pop(client_id, None)
        self._jwks_cache.pop(client_id, None)

    async def public_keys(self, client: Client) -> PublicKeySet:
        from idp.oidc import errors

        if client.jwks is not None:
            try:
                return import_key_set(client.jwks)
            except JoseFailure as exc:
                raise errors.InvalidClient("the client's registered JWKS is invalid", detail=exc.reason) from None
        if client.jwks_uri is None:
            raise errors.InvalidClient("the client has no registered keys")
        cached = self._jwks_cache.get(client.client_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        http = self._http or httpx.AsyncClient(timeout=5.0)
        try:
            response = await http.get(client.jwks_uri)
            response.raise_for_status()
            keys = import_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseFailure) as exc:
            raise errors.InvalidClient("the client's jwks_uri could not be read", detail=str(exc)) from None
        finally:
            if self._http is None:
                await http.aclose()
        self._jwks_cache[client.client_id] = (time.monotonic() + 300, keys)
        return keys

    async def register(
        self,
        *,
        client_id: str,
        redirect_uris: Sequence[str],
        scopes: Sequence[str],
        name: str | None = None,
        auth_method: str = "client_secret_basic",
        grant_types: Sequence[str] = ("authorization_code", "refresh_token"),
        post_logout_redirect_uris: Sequence[str] = (),
        jwks: dict[str, Any] | None = None,
        jwks_uri: str | None = None,
        subject_type: str = "pairwise",
        sector_identifier: str | None = None,
        first_party: bool = False,
        audiences: Sequence[str] = (CITIZEN,),
        admin_structure: str | None = None,
    ) -> NewClient:
        if not client_id or len(client_id) > 200 or not client_id.isprintable() or " " in client_id:
            raise ClientRegistrationError("client_id must be 1-200 printable characters without spaces",
                                          field="client_id")
        chosen_audiences = check_registration(
            redirect_uris=redirect_uris, scopes=scopes, auth_method=auth_method, grant_types=grant_types,
            post_logout_redirect_uris=post_logout_redirect_uris, jwks=jwks, jwks_uri=jwks_uri,
            subject_type=subject_type, sector_identifier=sector_identifier, audiences=audiences,
            admin_structure=admin_structure, name=name)
        secret = None
        secret_hash = None
        if auth_method in SECRET_METHODS:
            secret = secrets.token_urlsafe(32)
            secret_hash = hash_client_secret(self._secret_key, secret)
        record = ClientRecord(
            client_id=client_id, name=name or client_id, secret_hash=secret_hash, auth_method=auth_method,
            redirect_uris=list(redirect_uris), post_logout_redirect_uris=list(post_logout_redirect_uris),
            scopes=" ".join(dict.fromkeys(scopes)), grant_types=list(dict.fromkeys(grant_types)), jwks=jwks,
            jwks_uri=jwks_uri, subject_type=subject_type, sector_identifier=sector_identifier,
            first_party=first_party, audiences=" ".join(chosen_audiences), admin_structure=admin_structure,
        )
        async with self._db.transaction() as session:
            if await session.get(ClientRecord, client_id) is not None:
                raise ClientConflict(f"client {client_id!r} already exists", field="client_id")
            session.add(record)
        self.forget(client_id)
        return NewClient(to_client(record), secret)

    # --- administration (the admin API and the CLI) ---------------------------------------------------------

    async def details(self, client_id: str) -> ClientDetails | None:
        """The client as stored now, enabled or not, bypassing the cache (admin reads, admin bearer checks)."""
        async with self._db.session() as session:
            record = await session.get(ClientRecord, client_id)
        return to_details(record) if record is not None else None

    async def page(self, *, after: str | None, limit: int) -> list[ClientDetails]:
        """Clients in client_id order, starting after `after` (keyset pagination: stable while clients come)."""
        query = select(ClientRecord).order_by(ClientRecord.client_id).limit(limit)
        if after is not None:
            query = query.where(ClientRecord.client_id > after)
        async with self._db.session() as session:
            return [to_details(r) for r in (await session.scalars(query)).all()]

    async def update(self, client_id: str, changes: Mapping[str, Any]) -> UpdatedClient:
        """Change some of a client's registration (`UPDATABLE`); the result passes the same checks as
        `register`. Moving to a secret-based auth method generates a secret (returned once); moving away from
        one forgets the secret."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
        async with self._db.transaction() as session:
            record = await session.get(ClientRecord, client_id, with_for_update=True)
            if record is None:
                raise UnknownClient(client_id)
            merged: dict[str, Any] = {
                "name": record.name, "redirect_uris": list(record.redirect_uris),
                "post_logout_redirect_uris": list(record.post_logout_redirect_uris or ()),
                "scopes": record.scopes.split(), "grant_types": list(record.grant_types),
                "auth_method": record.auth_method, "jwks": record.jwks, "jwks_uri": record.jwks_uri,
                "subject_type": record.subject_type, "sector_identifier": record.sector_identifier,
                "first_party": record.first_party, "audiences": record.audiences.split(),
                "admin_structure": record.admin_structure,
            }
            merged.update(changes)
            first_party = bool(merged.pop("first_party"))
            audiences = check_registration(**merged)
            secret = None
            if merged["auth_method"] in SECRET_METHODS and record.secret_hash is None:
                secret = secrets.token_urlsafe(32)
                record.secret_hash = hash_client_secret(self._secret_key, secret)
            elif merged["auth_method"] not in SECRET_METHODS:
                record.secret_hash = None
            record.name = merged["name"] or client_id
            record.redirect_uris = list(merged["redirect_uris"])
            record.post_logout_redirect_uris = list(merged["post_logout_redirect_uris"])
            record.scopes = " ".join(dict.fromkeys(merged["scopes"]))
            record.grant_types = list(dict.fromkeys(merged["grant_types"]))
            record.auth_method = merged["auth_method"]
            record.jwks, record.jwks_uri = merged["jwks"], merged["jwks_uri"]
            record.subject_type, record.sector_identifier = merged["subject_type"], merged["sector_identifier"]
            record.first_party, record.audiences = first_party, " ".join(audiences)
            record.admin_structure = merged["admin_structure"]
            record.updated_at = utcnow()
            details = to_details(record)
        self.forget(client_id)
        return UpdatedClient(details, secret)

    async def rotate_secret(self, client_id: str) -> str:
        """A new secret (shown once); the old one stops working at once (on other processes within the client
        cache time, MANDAT_CLIENT_CACHE_SECONDS)."""
        secret = secrets.token_urlsafe(32)
        async with self._db.transaction() as session:
            record = await session.get(ClientRecord, client_id, with_for_update=True)
            if record is None:
                raise UnknownClient(client_id)
            if record.auth_method not in SECRET_METHODS:
                raise ClientConflict(f"client {client_id!r} uses {record.auth_method}: it has no secret to rotate",
                                     field="auth_method")
            record.secret_hash = hash_client_secret(self._secret_key, secret)
            record.updated_at = utcnow()
        self.forget(client_id)
        return secret

    async def disable(self, client_id: str) -> ClientDetails:
        """The client can no longer authenticate, get tokens or start sign-ins; its registration is kept."""
        async with self._db.transaction() as session:
            record = await session.get(ClientRecord, client_id, with_for_update=True)
            if record is None:
                raise UnknownClient(client_id)
            if not record.enabled:
                raise ClientConflict(f"client {client_id!r} is already disabled")
            record.enabled = False
            record.updated_at = utcnow()
            details = to_details(record)
        self.forget(client_id)
        return details

    async def list(self) -> list[Client]:
        async with self._db.session() as session:
            rows = (await session.scalars(select(ClientRecord).order_by(ClientRecord.client_id))).all()
        return [to_client(r) for r in rows]
