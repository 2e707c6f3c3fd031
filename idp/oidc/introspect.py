"""Token introspection (RFC 7662), client-authenticated.

A caller learns about a token only if it is that token's client or named in its audience; anything else is
`{"active": false}`, like an unknown token, so introspection cannot be used to probe other clients' tokens.
"""

from __future__ import annotations

from typing import Any

from idp.oidc import errors
from idp.oidc.access import TokenRejected, token_parameter, validate_access_token
from idp.oidc.client_auth import authenticate_client
from idp.oidc.minting import subject_for, token_hash
from idp.oidc.models import OidcRequest
from idp.oidc.provider import Provider

INACTIVE: dict[str, Any] = {"active": False}


async def introspection_endpoint(provider: Provider, request: OidcRequest) -> dict[str, Any]:
    if request.method != "POST":
        raise errors.InvalidRequest("introspection accepts POST only")
    caller = await authenticate_client(provider, request)
    if caller.is_public:
        raise errors.InvalidClient("public clients may not introspect")
    token = token_parameter(request)
    if token.count(".") == 2:
        try:
            access = await validate_access_token(provider, token)
        except TokenRejected:
            return INACTIVE
        claims = access.claims
        audiences = claims["aud"] if isinstance(claims.get("aud"), list) else [claims.get("aud")]
        if claims.get("client_id") != caller.client_id and caller.client_id not in audiences:
            return INACTIVE
        result = {"active": True, "token_type": "Bearer"}
        result.update({k: v for k, v in claims.items() if k != "gid"})
        return result
    found = await provider.grants.find_refresh_token(token_hash(provider, token))
    grant = found.grant
    now = provider.clock()
    if (found.status != "ok" or grant is None or grant.revoked or found.client_id != caller.client_id
            or found.expires_at <= now or grant.expires_at <= now):
        return INACTIVE
    return {"active": True, "token_type": "refresh_token", "client_id": grant.client_id,
            "scope": " ".join(grant.scopes), "exp": int(found.expires_at), "iss": provider.config.issuer,
            "sub": subject_for(provider, caller, grant.account_id)}
