"""Token endpoint (RFC 6749 §3.2): authenticate the client, pick the grant, run the grant's steps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from idp.oidc import errors
from idp.oidc.client_auth import authenticate_client
from idp.oidc.grant_types import authorization_code, client_credentials, refresh_token, token_exchange
from idp.oidc.models import Client, OidcRequest
from idp.oidc.provider import Provider

GrantHandler = Callable[[Provider, Client, OidcRequest], Awaitable[dict[str, Any]]]

# No implicit, no password grant (RFC 9700 §2.4): they are simply absent.
GRANTS: dict[str, GrantHandler] = {
    authorization_code.GRANT_TYPE: authorization_code.handle,
    refresh_token.GRANT_TYPE: refresh_token.handle,
    client_credentials.GRANT_TYPE: client_credentials.handle,
    token_exchange.GRANT_TYPE: token_exchange.handle,
}


def check_request_shape(request: OidcRequest) -> str:
    if request.method != "POST":
        raise errors.InvalidRequest("the token endpoint accepts POST only")
    if request.repeated:
        raise errors.InvalidRequest(f"parameter repeated: {', '.join(sorted(request.repeated))}")
    grant_type = request.get("grant_type")
    if grant_type is None:
        raise errors.InvalidRequest("grant_type is missing")
    return grant_type


async def token_endpoint(provider: Provider, request: OidcRequest) -> dict[str, Any]:
    grant_type = check_request_shape(request)
    client = await authenticate_client(provider, request)
    handler = GRANTS.get(grant_type)
    if handler is None:
        raise errors.UnsupportedGrantType(f"unsupported grant_type: {grant_type[:100]}")
    if grant_type not in client.grant_types:
        raise errors.UnauthorizedClient(f"this client may not use the {grant_type} grant")
    return await handler(provider, client, request)
