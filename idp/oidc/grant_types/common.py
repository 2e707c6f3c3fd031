"""What the user-facing grants share: minting the token response for a grant."""

from __future__ import annotations

import json
from typing import Any

from idp.oidc.minting import issue_access_token, issue_id_token, random_token, subject_for, token_hash
from idp.oidc.models import Client, Grant
from idp.oidc.provider import Provider


def requested_claim_names(claims: dict[str, Any] | None, member: str) -> frozenset[str]:
    section = (claims or {}).get(member) or {}
    return frozenset(section) if isinstance(section, dict) else frozenset()


async def mint_tokens(provider: Provider, client: Client, grant: Grant, *, nonce: str | None,
                      with_refresh: bool, with_id_token: bool = True) -> tuple[dict[str, Any], str | None]:
    """Build the token response. Returns it with the new refresh token's hash (to store), if any."""
    subject = subject_for(provider, client, grant.account_id)
    access_token, ttl = issue_access_token(
        provider, client, subject=subject, scopes=grant.scopes, grant_id=grant.id,
        auth_time=grant.auth_time, acr=grant.acr)
    response: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl,
                                "scope": " ".join(grant.scopes)}
    if with_id_token and "openid" in grant.scopes:
        wanted = requested_claim_names(grant.claims, "id_token") - {"acr", "auth_time", "sub"}
        extra = (await provider.accounts.claims(grant.account_id, frozenset(), wanted, client, amr=grant.amr)
                 if wanted else {})
        response["id_token"] = issue_id_token(
            provider, client, subject=subject, auth_time=grant.auth_time, acr=grant.acr, amr=grant.amr,
            sid=grant.sid, nonce=nonce, access_token=access_token, extra=extra)
    refresh_hash = None
    if with_refresh:
        refresh_token = random_token()
        refresh_hash = token_hash(provider, refresh_token)
        response["refresh_token"] = refresh_token
    return response, refresh_hash


def refresh_expiry(provider: Provider, grant: Grant) -> float:
    return min(provider.clock() + provider.config.refresh_token_ttl, grant.expires_at)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
