"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

`post_logout_redirect_uri` must exactly match one the client registered, and the client is known from
`id_token_hint` (verified by us, expiry ignored) or `client_id`. A bad value is shown on our page, never
redirected. The HTTP layer asks the person to confirm unless the hint's `sid` is the current session's.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.oidc import errors
from idp.oidc.jose import JoseFailure, unverified_header, verify_jwt
from idp.oidc.models import Client, OidcRequest
from idp.oidc.provider import Provider


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    client: Client | None
    post_logout_redirect_uri: str | None
    state: str | None
    hint_sid: str | None
    hint_subject: str | None


async def validate_logout(provider: Provider, request: OidcRequest) -> LogoutRequest:
    if request.repeated:
        raise errors.InvalidRequest(f"parameter repeated: {', '.join(sorted(request.repeated))}")
    hint = request.get("id_token_hint")
    client_id = request.get("client_id")
    hint_sid = hint_subject = None
    if hint is not None:
        try:
            kid = unverified_header(hint).get("kid")
            key = provider.keystore.by_kid(kid) if isinstance(kid, str) else None
            if key is None:
                raise JoseFailure("unknown kid")
            _header, claims = verify_jwt(hint, key, algorithms=[key.alg])
        except JoseFailure as exc:
            raise errors.InvalidRequest("id_token_hint is not an ID token we issued", detail=exc.reason) from None
        if claims.get("iss") != provider.config.issuer:
            raise errors.InvalidRequest("id_token_hint was issued by another provider")
        aud = claims.get("aud")
        hinted_client = aud[0] if isinstance(aud, list) and aud else aud
        if client_id is not None and client_id != hinted_client:
            raise errors.InvalidRequest("client_id does not match id_token_hint")
        client_id = hinted_client if isinstance(hinted_client, str) else None
        sid, sub = claims.get("sid"), claims.get("sub")
        hint_sid = sid if isinstance(sid, str) else None
        hint_subject = sub if isinstance(sub, str) else None
    client = await provider.clients.get(client_id) if client_id else None
    if client_id and client is None:
        raise errors.InvalidRequest("unknown client_id")
    redirect = request.get("post_logout_redirect_uri")
    if redirect is not None:
        if client is None:
            raise errors.InvalidRequest("post_logout_redirect_uri needs id_token_hint or client_id")
        if redirect not in client.post_logout_redirect_uris:
            raise errors.InvalidRequest("post_logout_redirect_uri is not registered for this client")
    return LogoutRequest(client, redirect, request.get("state"), hint_sid, hint_subject)
