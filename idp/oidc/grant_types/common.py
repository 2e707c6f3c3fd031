"""What the user-facing grants share: minting the token response for a grant."""

from __future__ import annotations

import json
from typing import Any

from idp.oidc import errors
from idp.oidc.delegated import delegable_part, delegation_claim, narrowed, rights_for
from idp.oidc.interfaces import DelegationRefused
from idp.oidc.minting import issue_access_token, issue_id_token, random_token, subject_for, token_hash
from idp.oidc.models import Client, Delegated, Grant
from idp.oidc.provider import Provider

# Scopes whose claims also go in the ID token (the rest only through userinfo, OIDC Core §5.4).
ID_TOKEN_SCOPES = frozenset({"delegations"})


def requested_claim_names(claims: dict[str, Any] | None, member: str) -> frozenset[str]:
    section = (claims or {}).get(member) or {}
    return frozenset(section) if isinstance(section, dict) else frozenset()


async def grant_rights(provider: Provider, grant: Grant, *, grant_type: str, ip: str = "") -> Delegated:
    """Ask the delegation a grant acts under, again, now: a revoked or lapsed one ends the grant's tokens."""
    assert grant.delegation_id is not None
    try:
        return await rights_for(provider, grant.delegation_id, grant.account_id, delegable_part(grant.scopes))
    except DelegationRefused as refusal:
        provider.audit.record("delegation:token:refused", actor=grant.account_id, subject=grant.principal_id,
                              client_id=grant.client_id, ip=ip or None, delegation_id=grant.delegation_id,
                              rule=refusal.rule, grant_type=grant_type, grant_id=grant.id)
        raise errors.InvalidGrant(f"the delegation no longer authorises this: {refusal.description}") from None


async def mint_tokens(provider: Provider, client: Client, grant: Grant, *, nonce: str | None,
                      with_refresh: bool, grant_type: str, ip: str = "", with_id_token: bool = True,
                      rights: Delegated | None = None,
                      refresh_token: str | None = None) -> tuple[dict[str, Any], str | None]:
    """Build the token response. Returns it with the new refresh token's hash (to store), if any.

    Acting under a delegation, the access token is the principal's (`sub`, narrowed scopes, `act`,
    `delegation_id`, a lifetime within the delegation's) and the ID token stays the actor's, with a
    `delegation` claim. `rights`: the delegation's answer, when the caller has just asked it (else asked here).
    `refresh_token`: the one to return, already stored by the caller (rotation), instead of a new one."""
    actor_sub = subject_for(provider, client, grant.account_id)
    subject, scopes, ttl = actor_sub, grant.scopes, None
    access_extra: dict[str, Any] = {}
    id_extra: dict[str, Any] = {}
    delegated = None
    if grant.delegation_id is not None:
        delegated = rights or await grant_rights(provider, grant, grant_type=grant_type, ip=ip)
        subject = subject_for(provider, client, delegated.principal_id)
        scopes = narrowed(grant.scopes, delegated)
        ttl = max(1, int(delegated.until - provider.clock()))
        access_extra = {"act": {"sub": actor_sub}, "delegation_id": delegated.delegation_id}
    access_token, ttl = issue_access_token(
        provider, client, subject=subject, scopes=scopes, grant_id=grant.id,
        auth_time=grant.auth_time, acr=grant.acr, extra=access_extra or None, ttl=ttl)
    response: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl,
                                "scope": " ".join(scopes)}
    if with_id_token and "openid" in grant.scopes:
        wanted = requested_claim_names(grant.claims, "id_token") - {"acr", "auth_time", "sub"}
        id_scopes = frozenset(grant.scopes) & ID_TOKEN_SCOPES
        if wanted or id_scopes:
            id_extra.update(await provider.accounts.claims(grant.account_id, id_scopes, wanted, client,
                                                           amr=grant.amr))
        if delegated is not None:
            id_extra["delegation"] = await delegation_claim(provider, client, delegated)
        response["id_token"] = issue_id_token(
            provider, client, subject=actor_sub, auth_time=grant.auth_time, acr=grant.acr, amr=grant.amr,
            sid=grant.sid, nonce=nonce, access_token=access_token, extra=id_extra)
    if delegated is not None:
        provider.audit.record("delegation:token:issued", actor=grant.account_id, subject=delegated.principal_id,
                              client_id=client.client_id, ip=ip or None, delegation_id=delegated.delegation_id,
                              scopes=list(scopes), grant_type=grant_type, grant_id=grant.id)
    refresh_hash = None
    if with_refresh:
        refresh_token = refresh_token or random_token()
        refresh_hash = token_hash(provider, refresh_token)
        response["refresh_token"] = refresh_token
    return response, refresh_hash


def refresh_expiry(provider: Provider, grant: Grant) -> float:
    return min(provider.clock() + provider.config.refresh_token_ttl, grant.expires_at)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
