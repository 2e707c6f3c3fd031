"""UserInfo endpoint (OIDC Core §5.3) with Bearer tokens (RFC 6750 §2.1/2.2; never in the query string)."""

from __future__ import annotations

from typing import Any

from idp.oidc import errors
from idp.oidc.access import TokenRejected, validate_access_token
from idp.oidc.grant_types.common import requested_claim_names
from idp.oidc.minting import subject_for
from idp.oidc.models import OidcRequest
from idp.oidc.provider import Provider


def bearer_token(request: OidcRequest) -> str:
    header = request.headers.get("authorization", "")
    body_token = request.get("access_token") if request.method == "POST" else None
    if header[:7].lower() == "bearer ":
        if body_token is not None:
            raise errors.InvalidRequest("send the access token once")
        return header[7:].strip()
    if body_token is not None:
        return body_token
    raise errors.MissingToken("an access token is required (Authorization: Bearer)")


async def userinfo_endpoint(provider: Provider, request: OidcRequest) -> dict[str, Any]:
    token = bearer_token(request)
    try:
        access = await validate_access_token(provider, token)
    except TokenRejected as exc:
        raise errors.InvalidToken("the access token is invalid, expired or revoked", detail=exc.reason) from None
    grant = access.grant
    if grant is None:
        raise errors.InvalidToken("this access token does not represent a person")
    scopes = frozenset(str(access.claims.get("scope", "")).split())
    if "openid" not in scopes:
        raise errors.InsufficientScope("the access token lacks the openid scope")
    client = await provider.clients.get(grant.client_id)
    if client is None:
        raise errors.InvalidToken("the client of this token no longer exists")
    requested = requested_claim_names(grant.claims, "userinfo")
    if access.delegated is not None:
        # The principal's claims, and who acts for them (RFC 8693 §4.1): the token's own `sub` and `act`.
        claims = await provider.accounts.claims(access.delegated.principal_id, scopes, requested, client)
        claims["sub"] = access.claims["sub"]
        claims["act"] = access.claims["act"]
        return claims
    claims = await provider.accounts.claims(grant.account_id, scopes, requested, client, amr=grant.amr)
    claims["sub"] = subject_for(provider, client, grant.account_id)
    return claims
