"""Token minting: JWT access tokens (RFC 9068), ID tokens (OIDC Core §2), opaque refresh tokens and codes.

Opaque values (codes, refresh tokens) are 256-bit random strings; only their keyed hash is ever stored.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from idp.oidc.jose import sign_jwt
from idp.oidc.models import Client
from idp.oidc.provider import Provider


def random_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(provider: Provider, value: str) -> str:
    """Keyed hash used as the storage key of codes and refresh tokens (a DB leak yields nothing usable)."""
    return hmac.digest(provider.keys.token_hash, value.encode(), "sha256").hex()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def half_hash(value: str) -> str:
    """`at_hash`: left half of SHA-256 of the token, base64url (OIDC Core §3.1.3.6, ES256 → SHA-256)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])


def sector_of(client: Client) -> str:
    if client.sector_identifier:
        return client.sector_identifier
    return _host_sector(client.redirect_uris, client.client_id)


@functools.lru_cache(maxsize=1024)
def _host_sector(redirect_uris: tuple[str, ...], client_id: str) -> str:
    """Computed once per registration (every token and userinfo answer asks it)."""
    hosts = {urlsplit(uri).hostname or "" for uri in redirect_uris}
    # Registration refuses several hosts without a sector identifier, so this is one host.
    return sorted(hosts)[0] if hosts else client_id


def subject_for(provider: Provider, client: Client, account_id: str) -> str:
    """Pairwise per sector by default (OIDC Core §8.1), so portals cannot correlate people."""
    if client.subject_type == "public":
        return account_id
    return b64url(hmac.digest(provider.keys.pairwise, f"{sector_of(client)}|{account_id}".encode(), "sha256"))


def issue_access_token(
    provider: Provider,
    client: Client,
    *,
    subject: str,
    scopes: tuple[str, ...] | list[str],
    grant_id: str | None = None,
    auth_time: int | None = None,
    acr: str | None = None,
    extra: dict[str, Any] | None = None,
    ttl: int | None = None,
) -> tuple[str, int]:
    """A signed RFC 9068 access token and its lifetime: the configured one, or `ttl` when shorter (a token
    issued under a delegation never outlives it)."""
    now = provider.now()
    ttl = provider.config.access_token_ttl if ttl is None else min(ttl, provider.config.access_token_ttl)
    claims: dict[str, Any] = {
        "iss": provider.config.issuer,
        "sub": subject,
        "aud": provider.config.issuer,
        "client_id": client.client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
        "scope": " ".join(scopes),
    }
    if grant_id is not None:
        claims["gid"] = grant_id
    if auth_time is not None:
        claims["auth_time"] = auth_time
    if acr is not None:
        claims["acr"] = acr
    if extra:
        claims.update(extra)
    return sign_jwt(claims, provider.keystore.active(), typ="at+jwt"), ttl


def issue_id_token(
    provider: Provider,
    client: Client,
    *,
    subject: str,
    auth_time: int,
    acr: str,
    amr: tuple[str, ...] | list[str],
    sid: str | None,
    nonce: str | None,
    access_token: str | None,
    extra: dict[str, Any] | None = None,
) -> str:
    now = provider.now()
    claims: dict[str, Any] = {
        "iss": provider.config.issuer,
        "sub": subject,
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": now,
        "exp": now + provider.config.id_token_ttl,
        "auth_time": auth_time,
        "acr": acr,
        "amr": list(amr),
    }
    if sid:
        claims["sid"] = sid
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["at_hash"] = half_hash(access_token)
    if extra:
        claims.update({k: v for k, v in extra.items() if k not in claims})
    return sign_jwt(claims, provider.keystore.active(), typ="JWT")
