"""authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9700 §4.2.1 + §2.1.1).

The code is consumed atomically before anything else is checked, so any presentation burns it. A second
presentation is a replay: the grant the first one created is revoked (RFC 6749 §4.1.2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

from idp.oidc import errors
from idp.oidc.grant_types.common import mint_tokens, refresh_expiry
from idp.oidc.minting import token_hash
from idp.oidc.models import Client, Grant, OidcRequest
from idp.oidc.provider import Provider
from idp.store import get_json, put_json, take_json

GRANT_TYPE = "authorization_code"
VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


@dataclass(slots=True)
class CodeContext:
    provider: Provider
    client: Client
    request: OidcRequest
    code_key: str = ""
    code: dict[str, Any] = field(default_factory=dict)


async def check_code_present(ctx: CodeContext) -> None:
    code = ctx.request.get("code")
    if code is None:
        raise errors.InvalidRequest("code is missing")
    if len(code) > 256:
        raise errors.InvalidGrant("authorization code is invalid")
    ctx.code_key = token_hash(ctx.provider, code)


async def consume_code(ctx: CodeContext) -> None:
    provider = ctx.provider
    payload = await take_json(provider.store, f"code:{ctx.code_key}")
    marker = await get_json(provider.store, f"code_grant:{ctx.code_key}")
    if payload is None:
        if marker is not None and marker.get("used"):
            await provider.grants.revoke(marker["grant_id"], "code_replay")
            provider.audit.record("oidc:code:replayed", client_id=ctx.client.client_id, ip=ctx.request.client_ip,
                                  grant_id=marker["grant_id"])
            raise errors.InvalidGrant("authorization code was already used; the tokens it issued are revoked")
        if marker is not None:
            raise errors.InvalidGrant("authorization code expired")
        raise errors.InvalidGrant("authorization code is invalid")
    if marker is not None:
        await put_json(provider.store, f"code_grant:{ctx.code_key}", {**marker, "used": True},
                       max(600, provider.config.code_ttl * 10))
    if payload["exp"] <= provider.now():
        raise errors.InvalidGrant("authorization code expired")
    ctx.code = payload


async def check_code_client(ctx: CodeContext) -> None:
    if ctx.code["client_id"] != ctx.client.client_id:
        raise errors.InvalidGrant("authorization code was issued to another client",
                                  detail=f"code for {ctx.code['client_id']} presented by {ctx.client.client_id}")


async def check_redirect_uri(ctx: CodeContext) -> None:
    if ctx.request.get("redirect_uri") != ctx.code["redirect_uri"]:
        raise errors.InvalidGrant("redirect_uri does not match the authorization request")


async def check_pkce_verifier(ctx: CodeContext) -> None:
    verifier = ctx.request.get("code_verifier")
    if verifier is None:
        raise errors.InvalidGrant("code_verifier is required (PKCE)")
    if not VERIFIER.match(verifier):
        raise errors.InvalidGrant("code_verifier must be 43-128 characters of [A-Za-z0-9-._~]")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    if not hmac.compare_digest(computed, ctx.code["code_challenge"]):
        raise errors.InvalidGrant("code_verifier does not match the code_challenge")


async def check_account_active(ctx: CodeContext) -> None:
    if not await ctx.provider.accounts.is_active(ctx.code["account_id"]):
        raise errors.InvalidGrant("the account is no longer active")


STEPS = (check_code_present, consume_code, check_code_client, check_redirect_uri, check_pkce_verifier,
         check_account_active)


async def handle(provider: Provider, client: Client, request: OidcRequest) -> dict[str, Any]:
    ctx = CodeContext(provider, client, request)
    for step in STEPS:
        await step(ctx)
    code = ctx.code
    scopes = tuple(code["scopes"])
    offline = "offline_access" in scopes
    ttl = provider.config.offline_grant_absolute_ttl if offline else provider.config.grant_absolute_ttl
    grant = Grant(id=code["grant_id"], client_id=client.client_id, account_id=code["account_id"], scopes=scopes,
                  acr=code["acr"], amr=tuple(code["amr"]), auth_time=code["auth_time"], sid=code["sid"],
                  expires_at=provider.clock() + ttl, claims=code["claims"],
                  delegation_id=code.get("delegation_id"), principal_id=code.get("principal_id"))
    with_refresh = "refresh_token" in client.grant_types
    response, refresh_hash = await mint_tokens(provider, client, grant, nonce=code["nonce"],
                                               with_refresh=with_refresh, grant_type=GRANT_TYPE,
                                               ip=request.client_ip)
    await provider.grants.create(grant, refresh_hash, refresh_expiry(provider, grant))
    provider.audit.record("oidc:token:issued", actor=grant.account_id, client_id=client.client_id,
                          ip=request.client_ip, grant_type=GRANT_TYPE, grant_id=grant.id)
    return response
