"""Client registry: registration (secrets generated here, shown once, stored as keyed hashes) and a
per-process cache, so the token endpoint's hot path has no database round trip."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from idp.clients.models import ClientRecord
from idp.db import Database
from idp.errors import MandatError
from idp.oidc.client_auth import hash_client_secret
from idp.oidc.jose import JoseFailure, PublicKeySet, import_key_set
from idp.oidc.models import AUDIENCES, CITIZEN, Client

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
NEGATIVE_CACHE_SECONDS = 5.0
MAX_CACHED = 10_000


class ClientRegistrationError(MandatError):
    """A client registration is invalid; the message says which field and why."""


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
        raise ClientRegistrationError(f"unknown audience {unknown[0]!r}: use {' or '.join(AUDIENCES)}")
    return chosen


def check_redirect_uri(uri: str) -> None:
    """Registration rules (RFC 9700 §4.1): absolute, no fragment; http only for loopback/localhost."""
    parts = urlsplit(uri)
    if not parts.scheme or (not parts.netloc and parts.scheme in {"http", "https"}):
        raise ClientRegistrationError(f"redirect URI {uri!r} must be absolute")
    if parts.fragment:
        raise ClientRegistrationError(f"redirect URI {uri!r} must not have a fragment")
    if parts.scheme == "http" and parts.hostname not in {"localhost", "127.0.0.1", "::1"}:
        raise ClientRegistrationError(f"redirect URI {uri!r} must use https (http only for localhost)")


@dataclass(frozen=True, slots=True)
class NewClient:
    client: Client
    secret: str | None


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
    ) -> NewClient:
        chosen_audiences = check_audiences(audiences)
        if not client_id or len(client_id) > 200 or not client_id.isprintable() or " " in client_id:
            raise ClientRegistrationError("client_id must be 1-200 printable characters without spaces")
        if auth_method not in AUTH_METHODS:
            raise ClientRegistrationError(f"auth method must be one of {', '.join(AUTH_METHODS)}")
        unknown = set(grant_types) - {"authorization_code", "refresh_token", "client_credentials"}
        if unknown:
            raise ClientRegistrationError(f"unsupported grant types: {', '.join(sorted(unknown))}")
        if "authorization_code" in grant_types and not redirect_uris:
            raise ClientRegistrationError("at least one redirect URI is required")
        for uri in [*redirect_uris, *post_logout_redirect_uris]:
            check_redirect_uri(uri)
        if subject_type not in {"pairwise", "public"}:
            raise ClientRegistrationError("subject type must be pairwise or public")
        hosts = {urlsplit(u).hostname for u in redirect_uris}
        if subject_type == "pairwise" and len(hosts) > 1 and not sector_identifier:
            raise ClientRegistrationError("redirect URIs on several hosts need a sector identifier (pairwise)")
        if auth_method == "private_key_jwt":
            if (jwks is None) == (jwks_uri is None):
                raise ClientRegistrationError("private_key_jwt needs exactly one of --jwks or --jwks-uri")
            if jwks is not None:
                try:
                    import_key_set(jwks)
                except JoseFailure as exc:
                    raise ClientRegistrationError(f"invalid JWKS: {exc.reason}") from None
        if auth_method == "none" and "client_credentials" in grant_types:
            raise ClientRegistrationError("public clients cannot use client_credentials")
        secret = None
        secret_hash = None
        if auth_method in {"client_secret_basic", "client_secret_post"}:
            secret = secrets.token_urlsafe(32)
            secret_hash = hash_client_secret(self._secret_key, secret)
        record = ClientRecord(
            client_id=client_id, name=name or client_id, secret_hash=secret_hash, auth_method=auth_method,
            redirect_uris=list(redirect_uris), post_logout_redirect_uris=list(post_logout_redirect_uris),
            scopes=" ".join(dict.fromkeys(scopes)), grant_types=list(dict.fromkeys(grant_types)), jwks=jwks,
            jwks_uri=jwks_uri, subject_type=subject_type, sector_identifier=sector_identifier,
            first_party=first_party, audiences=" ".join(chosen_audiences),
        )
        async with self._db.transaction() as session:
            if await session.get(ClientRecord, client_id) is not None:
                raise ClientRegistrationError(f"client {client_id!r} already exists")
            session.add(record)
        self.forget(client_id)
        return NewClient(to_client(record), secret)

    async def list(self) -> list[Client]:
        async with self._db.session() as session:
            rows = (await session.scalars(select(ClientRecord).order_by(ClientRecord.client_id))).all()
        return [to_client(r) for r in rows]
