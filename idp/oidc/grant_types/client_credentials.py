"""client_credentials grant (RFC 6749 §4.4): a token for the client itself, `sub` = client_id.

This is the hot path the benchmark measures: one cached client lookup, one HMAC, one signature, no DB.
"""

from __future__ import annotations

from typing import Any

from idp.oidc import errors
from idp.oidc.minting import issue_access_token
from idp.oidc.models import Client, OidcRequest
from idp.oidc.provider import Provider

GRANT_TYPE = "client_credentials"
# Person-related scopes make no sense without a person.
USER_ONLY_SCOPES = frozenset({"openid", "offline_access", "profile", "email", "address", "phone"})


async def handle(provider: Provider, client: Client, request: OidcRequest) -> dict[str, Any]:
    if client.is_public:
        raise errors.UnauthorizedClient("public clients cannot use client_credentials")
    asked = request.get("scope")
    allowed = client.scopes - USER_ONLY_SCOPES
    if asked is None:
        scopes = tuple(sorted(allowed))
    else:
        scopes = tuple(dict.fromkeys(asked.split()))
        refused = [s for s in scopes if s not in allowed]
        if refused:
            raise errors.InvalidScope(f"scope not allowed for this client: {' '.join(refused)}")
    token, ttl = issue_access_token(provider, client, subject=client.client_id, scopes=scopes)
    # A client acting for itself, possibly thousands of times a second: counted, not logged one by one.
    provider.audit.count("oidc:client_credentials:issued", client_id=client.client_id)
    response: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": ttl}
    if scopes:
        response["scope"] = " ".join(scopes)
    return response
