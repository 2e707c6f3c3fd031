"""Token revocation (RFC 7009). Revoking a refresh token revokes its grant, and so its access tokens."""

from __future__ import annotations

from idp.oidc import errors
from idp.oidc.access import TokenRejected, revoke_access_token, token_parameter, validate_access_token
from idp.oidc.client_auth import authenticate_client
from idp.oidc.minting import token_hash
from idp.oidc.models import OidcRequest
from idp.oidc.provider import Provider


async def revocation_endpoint(provider: Provider, request: OidcRequest) -> None:
    if request.method != "POST":
        raise errors.InvalidRequest("revocation accepts POST only")
    client = await authenticate_client(provider, request)
    token = token_parameter(request)
    if token.count(".") == 2:
        try:
            access = await validate_access_token(provider, token)
        except TokenRejected:
            return  # RFC 7009 §2.2: invalid tokens are not an error
        if access.claims.get("client_id") != client.client_id:
            raise errors.UnauthorizedClient("this token was issued to another client")
        await revoke_access_token(provider, access.claims)
        provider.audit.record("oidc:token:revoked", client_id=client.client_id, ip=request.client_ip,
                              jti=access.claims.get("jti"))
        return
    found = await provider.grants.find_refresh_token(token_hash(provider, token))
    if found.grant is None:
        return
    if found.client_id != client.client_id:
        raise errors.UnauthorizedClient("this token was issued to another client")
    await provider.grants.revoke(found.grant.id, "revoked_by_client")
    provider.audit.record("oidc:grant:revoked", actor=found.grant.account_id, client_id=client.client_id,
                          ip=request.client_ip, grant_id=found.grant.id)
