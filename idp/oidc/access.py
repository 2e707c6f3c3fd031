"""Validating our own access tokens (for userinfo and introspection): signature, type, issuer, expiry, and
revocation (the token's `jti`, or its grant)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.oidc import errors
from idp.oidc.delegated import act_depth, delegable_part, rights_for
from idp.oidc.interfaces import DelegationRefused
from idp.oidc.jose import JoseFailure, unverified_header, verify_jwt
from idp.oidc.models import Delegated, Grant, OidcRequest
from idp.oidc.provider import Provider


@dataclass(frozen=True, slots=True)
class AccessToken:
    claims: dict[str, Any]
    grant: Grant | None
    # Issued under a delegation: what it authorises now (the grant's account is the actor).
    delegated: Delegated | None = None


class TokenRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def validate_access_token(provider: Provider, token: str) -> AccessToken:
    claims = _verified_claims(provider, token)
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= provider.now():
        raise TokenRejected("expired")
    jti = claims.get("jti")
    if isinstance(jti, str) and await provider.store.get(f"revoked_jti:{jti}") is not None:
        raise TokenRejected("revoked")
    grant = None
    grant_id = claims.get("gid")
    if isinstance(grant_id, str):
        grant = await provider.grants.get(grant_id)
        if grant is None or grant.revoked:
            raise TokenRejected("grant revoked")
    delegated = None
    if "delegation_id" in claims or "act" in claims:
        delegated = await _delegation_holds(provider, claims, grant)
    return AccessToken(claims, grant, delegated)


def _verified_claims(provider: Provider, token: str) -> dict[str, Any]:
    """The claims of one of our access tokens: signature (by a key we still publish), `typ` and issuer checked,
    here or at an earlier use of the same token (`Provider.verified`)."""
    known = provider.verified.get(token)
    if known is not None and provider.keystore.by_kid(known[0]) is not None:
        return known[1]
    try:
        kid = unverified_header(token).get("kid")
    except JoseFailure as exc:
        raise TokenRejected(exc.reason) from None
    key = provider.keystore.by_kid(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenRejected("unknown kid")
    try:
        _header, claims = verify_jwt(token, key, algorithms=[key.alg], typ="at+jwt")
    except JoseFailure as exc:
        raise TokenRejected(exc.reason) from None
    if claims.get("iss") != provider.config.issuer:
        raise TokenRejected("wrong issuer")
    assert isinstance(kid, str)
    provider.verified.put(token, kid, claims)
    return claims


async def _delegation_holds(provider: Provider, claims: dict[str, Any], grant: Grant | None) -> Delegated:
    """A token issued under a delegation is good only while the delegation authorises all of its scopes: asked
    at every use, so a revocation, a lapse or a narrower age band takes effect at once."""
    delegation_id = claims.get("delegation_id")
    if not isinstance(delegation_id, str) or grant is None or not isinstance(claims.get("act"), dict):
        raise TokenRejected("malformed delegated token")
    wanted = delegable_part(str(claims.get("scope", "")).split())
    try:
        delegated = await rights_for(provider, delegation_id, grant.account_id, wanted, act_depth=act_depth(claims))
    except DelegationRefused as refusal:
        raise TokenRejected(f"delegation: {refusal.rule}") from None
    if not wanted <= delegated.scopes:
        raise TokenRejected("delegation: no longer authorises " + " ".join(sorted(wanted - delegated.scopes)))
    return delegated


async def revoke_access_token(provider: Provider, claims: dict[str, Any]) -> None:
    jti, exp = claims.get("jti"), claims.get("exp")
    if isinstance(jti, str) and isinstance(exp, int):
        await provider.store.put(f"revoked_jti:{jti}", b"1", max(1, exp - provider.now() + 60))


def token_parameter(request: OidcRequest) -> str:
    """The `token` parameter of introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1), with its hint
    checked. The hint only speeds up a lookup, so both kinds are still tried whatever it says."""
    token = request.get("token")
    if token is None:
        raise errors.InvalidRequest("token is missing")
    hint = request.get("token_type_hint")
    if hint is not None and hint not in {"access_token", "refresh_token"}:
        raise errors.UnsupportedTokenType("token_type_hint must be access_token or refresh_token")
    return token
