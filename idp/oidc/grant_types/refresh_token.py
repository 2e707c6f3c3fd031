"""refresh_token grant with rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14.2).

Each refresh token works once. Presenting a used one means it leaked (or the legitimate client raced itself):
the whole grant is revoked and every token it holds stops working.
"""

from __future__ import annotations

from typing import Any

from idp.oidc import errors
from idp.oidc.grant_types.common import grant_rights, mint_tokens, refresh_expiry
from idp.oidc.minting import random_token, token_hash
from idp.oidc.models import Client, Grant, OidcRequest
from idp.oidc.provider import Provider

GRANT_TYPE = "refresh_token"


async def handle(provider: Provider, client: Client, request: OidcRequest) -> dict[str, Any]:
    raw = request.get("refresh_token")
    if raw is None:
        raise errors.InvalidRequest("refresh_token is missing")
    if len(raw) > 256:
        raise errors.InvalidGrant("refresh token is invalid")
    token_key = token_hash(provider, raw)
    now = provider.clock()
    found = await provider.grants.find_refresh_token(token_key)
    if found.status == "unknown" or found.grant is None:
        raise errors.InvalidGrant("refresh token is invalid")
    if found.client_id != client.client_id:
        raise errors.InvalidGrant("refresh token was issued to another client")
    # A revoked grant burns its refresh tokens; presenting one then is not a reuse (no theft to report).
    if found.grant.revoked:
        raise errors.InvalidGrant("the grant was revoked")
    # Everything that can refuse is checked before the token is consumed: a bad `scope`, a locked account or an
    # ended delegation must not cost the client its only refresh token (its retry would then look like a reuse
    # and revoke the whole grant). A used token is still a reuse, whatever else is wrong with it.
    scopes = found.grant.scopes
    asked = request.get("scope")
    if asked is not None:
        narrowed = tuple(dict.fromkeys(asked.split()))
        if not set(narrowed) <= set(found.grant.scopes):
            raise errors.InvalidScope("scope exceeds what was granted")
        scopes = narrowed
    if found.status == "ok":
        if found.expires_at <= now or found.grant.expires_at <= now:
            raise errors.InvalidGrant("refresh token expired")
        if not await provider.accounts.is_active(found.grant.account_id):
            raise errors.InvalidGrant("the account is no longer active")
    rights = None
    if found.status == "ok" and found.grant.delegation_id is not None:
        rights = await grant_rights(provider, found.grant, grant_type=GRANT_TYPE, ip=request.client_ip)
    successor = random_token()
    # Marks this token used and stores its successor in one transaction (RFC 9700 §4.14.2).
    outcome = await provider.grants.rotate_refresh_token(token_key, now, token_hash(provider, successor),
                                                         refresh_expiry(provider, found.grant))
    grant = outcome.grant
    assert grant is not None
    if outcome.status == "reused":
        await provider.grants.revoke(grant.id, "refresh_reuse")
        provider.audit.record("oidc:refresh:reused", actor=grant.account_id, client_id=client.client_id,
                              ip=request.client_ip, grant_id=grant.id)
        raise errors.InvalidGrant("refresh token was already used; the grant is revoked")
    if grant.revoked:
        raise errors.InvalidGrant("the grant was revoked")
    if not outcome.live(now):
        raise errors.InvalidGrant("refresh token expired")
    issued = Grant(id=grant.id, client_id=grant.client_id, account_id=grant.account_id, scopes=scopes,
                   acr=grant.acr, amr=grant.amr, auth_time=grant.auth_time, sid=grant.sid,
                   expires_at=grant.expires_at, claims=grant.claims, delegation_id=grant.delegation_id,
                   principal_id=grant.principal_id)
    response, _ = await mint_tokens(provider, client, issued, nonce=None, with_refresh=True, grant_type=GRANT_TYPE,
                                    ip=request.client_ip, rights=rights, refresh_token=successor)
    provider.audit.record("oidc:token:refreshed", actor=grant.account_id, client_id=client.client_id,
                          ip=request.client_ip, grant_id=grant.id)
    return response
