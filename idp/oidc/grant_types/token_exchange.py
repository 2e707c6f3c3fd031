"""Token exchange (RFC 8693), the delegation grant: a client holding a person's access token gets a token for
someone that person may act for, or re-targets a token it already holds for them.

Which case applies is decided from the subject token's own claims, never from which parameters are present
(the lesson of Keycloak #52691, where a parameter switched the check off):
- **own token** (no `act`): the person is the actor; `requested_subject` (the principal's `sub` as this client
  knows it) must match one of the delegations they may use now. The new token is the principal's, with `act`.
- **delegated token** (`act` and `delegation_id`): it already speaks for a principal. The new token keeps `sub`,
  `delegation_id` and the actor; asking for anyone else is refused (no laundering a delegation into another).
  Re-exchanged by the client it was issued to (say for another audience), `act` stays as it is; exchanged by
  another client named in its audience (a downstream service), that client joins the chain as the new outer
  actor (RFC 8693 §4.1), and the policy bounds the chain (`MANDAT_DELEGATION_MAX_ACT_DEPTH`).

Either way the delegation is checked by the same policy as the authorization flow, now, with the scopes asked;
the token never outlives the delegation and is tied to the subject token's grant (revoking that grant, or the
delegation, ends it). Only access tokens are taken and issued; no refresh token is issued (RFC 8693 §2.2.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from idp.oidc import errors
from idp.oidc.access import AccessToken, TokenRejected, validate_access_token
from idp.oidc.delegated import PROTOCOL_SCOPES, act_depth, delegable_part, rights_for
from idp.oidc.interfaces import DelegationRefused
from idp.oidc.minting import issue_access_token, subject_for
from idp.oidc.models import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE, Client, Delegated, OidcRequest
from idp.oidc.provider import Provider

GRANT_TYPE = TOKEN_EXCHANGE
MAX_PARAM = 4096
# A refusal about *what* was asked is invalid_scope; about *whether* the delegation holds, invalid_grant.
SCOPE_RULES = frozenset({"no_scope_granted", "scope_not_delegable", "scope_reserved_to_professionals",
                         "scope_missing"})


@dataclass(slots=True)
class ExchangeContext:
    provider: Provider
    client: Client
    request: OidcRequest
    subject: AccessToken | None = None
    actor_id: str = ""
    delegation_id: str = ""
    act: dict[str, Any] = field(default_factory=dict)
    depth: int = 1
    asked: tuple[str, ...] = ()
    offer: Delegated | None = None  # own token: the delegation `requested_subject` matched
    delegated: Delegated | None = None
    audience: list[str] = field(default_factory=list)


async def check_confidential_client(ctx: ExchangeContext) -> None:
    """An exchange speaks for someone else: only an authenticated client may ask (registration refuses a public
    client this grant; this holds even if a record was edited by hand)."""
    if ctx.client.is_public:
        raise errors.UnauthorizedClient("public clients cannot use token exchange")


async def check_parameters(ctx: ExchangeContext) -> None:
    request = ctx.request
    for name in ("subject_token", "requested_subject", "scope", "audience", "resource"):
        value = request.get(name)
        if value is not None and len(value) > MAX_PARAM:
            raise errors.InvalidRequest(f"{name} is too long")
    if request.get("subject_token") is None:
        raise errors.InvalidRequest("subject_token is missing")
    token_type = request.get("subject_token_type")
    if token_type is None:
        raise errors.InvalidRequest("subject_token_type is missing")
    if token_type != ACCESS_TOKEN_TYPE:
        raise errors.InvalidRequest(f"subject_token_type must be {ACCESS_TOKEN_TYPE}")
    if request.get("actor_token") is not None or request.get("actor_token_type") is not None:
        raise errors.InvalidRequest("actor_token is not supported: the actor is the person of the subject_token")
    wanted = request.get("requested_token_type")
    if wanted is not None and wanted != ACCESS_TOKEN_TYPE:
        raise errors.InvalidRequest(f"requested_token_type must be {ACCESS_TOKEN_TYPE}")


async def check_subject_token(ctx: ExchangeContext) -> None:
    """Ours, valid, not revoked, held by this client (issued to it, or naming it in its audience), and a
    person's: a client's own token (client_credentials) has no one to act for."""
    token = ctx.request.get("subject_token")
    assert token is not None
    try:
        subject = await validate_access_token(ctx.provider, token)
    except TokenRejected as rejected:
        raise errors.InvalidGrant("subject_token is invalid, expired or revoked", detail=rejected.reason) from None
    claims = subject.claims
    audiences = claims["aud"] if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    if claims.get("client_id") != ctx.client.client_id and ctx.client.client_id not in audiences:
        raise errors.InvalidGrant("subject_token was not issued to this client")
    if subject.grant is None:
        raise errors.InvalidGrant("subject_token does not represent a person")
    ctx.subject = subject
    ctx.actor_id = subject.grant.account_id


async def choose_case(ctx: ExchangeContext) -> None:
    """Own token or delegated token: read from the subject token's claims only."""
    assert ctx.subject is not None
    claims = ctx.subject.claims
    requested = ctx.request.get("requested_subject")
    delegated = ctx.subject.delegated
    if delegated is not None:
        # Already for a principal: the same one (as the token's client or this one knows them), or nothing.
        same = {claims["sub"], subject_for(ctx.provider, ctx.client, delegated.principal_id)}
        if requested is not None and requested not in same:
            raise errors.InvalidGrant("a delegated subject_token cannot be exchanged for another principal")
        ctx.delegation_id = delegated.delegation_id
        if claims.get("client_id") == ctx.client.client_id:
            ctx.act, ctx.depth = dict(claims["act"]), act_depth(claims)
        else:
            ctx.act, ctx.depth = {"sub": ctx.client.client_id, "act": claims["act"]}, act_depth(claims) + 1
        return
    if requested is None:
        raise errors.InvalidRequest("requested_subject is missing: name the person to act for (their sub)")
    port = ctx.provider.delegations
    offers = await port.offers(ctx.actor_id) if port is not None else []
    match = [o for o in offers if subject_for(ctx.provider, ctx.client, o.principal_id) == requested]
    if not match:
        raise errors.InvalidGrant("no active delegation lets this person act for the requested_subject")
    ctx.offer = match[0]
    ctx.delegation_id = match[0].delegation_id
    ctx.act, ctx.depth = {"sub": subject_for(ctx.provider, ctx.client, ctx.actor_id)}, 1


async def check_scope(ctx: ExchangeContext) -> None:
    """What is asked must be allowed to this client, and a delegated token cannot be widened. Without `scope`:
    what the delegation authorises (∩ the client's scopes), or the delegated token's own scopes."""
    assert ctx.subject is not None
    raw = ctx.request.get("scope")
    if raw is None:
        if ctx.subject.delegated is not None:
            ctx.asked = tuple(str(ctx.subject.claims.get("scope", "")).split())
        else:
            assert ctx.offer is not None
            ctx.asked = tuple(sorted(ctx.offer.scopes & ctx.client.scopes))
        return
    asked = tuple(dict.fromkeys(raw.split()))
    if "offline_access" in asked:
        raise errors.InvalidScope("offline_access cannot be exchanged: token exchange issues no refresh token")
    refused = [s for s in asked if s not in ctx.client.scopes]
    if refused:
        raise errors.InvalidScope(f"scope not allowed for this client: {' '.join(refused)}")
    if ctx.subject.delegated is not None:
        wider = set(asked) - set(str(ctx.subject.claims.get("scope", "")).split())
        if wider:
            raise errors.InvalidScope(f"scope exceeds the subject_token's: {' '.join(sorted(wider))}")
    ctx.asked = asked


async def check_delegation(ctx: ExchangeContext) -> None:
    """The same policy as the authorization flow, now, for exactly these scopes."""
    wanted = delegable_part(ctx.asked)
    if not wanted:
        raise errors.InvalidScope("ask for at least one delegated scope")
    try:
        delegated = await rights_for(ctx.provider, ctx.delegation_id, ctx.actor_id, wanted, act_depth=ctx.depth)
    except DelegationRefused as refusal:
        if refusal.rule in SCOPE_RULES:
            raise errors.InvalidScope(f"scope not delegated: {refusal.description}") from None
        raise errors.InvalidGrant(f"the delegation does not authorise this: {refusal.description}") from None
    outside = wanted - delegated.scopes
    if outside:
        raise errors.InvalidScope(f"scope outside the delegation or not delegable: {' '.join(sorted(outside))}")
    ctx.delegated = delegated


async def check_audience(ctx: ExchangeContext) -> None:
    """`audience`: a registered client; `resource`: an absolute URI (RFC 8707). Default: this issuer."""
    audience, resource = ctx.request.get("audience"), ctx.request.get("resource")
    if audience is not None:
        if await ctx.provider.clients.get(audience) is None:
            raise errors.InvalidTarget("audience is not a known client")
        ctx.audience.append(audience)
    if resource is not None:
        parts = urlsplit(resource)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
            raise errors.InvalidTarget("resource must be an absolute URI without a fragment")
        ctx.audience.append(resource)


STEPS = (check_confidential_client, check_parameters, check_subject_token, choose_case, check_scope,
         check_delegation, check_audience)


async def handle(provider: Provider, client: Client, request: OidcRequest) -> dict[str, Any]:
    ctx = ExchangeContext(provider, client, request)
    for step in STEPS:
        await step(ctx)
    assert ctx.subject is not None and ctx.subject.grant is not None and ctx.delegated is not None
    delegated, grant = ctx.delegated, ctx.subject.grant
    scopes = tuple(s for s in ctx.asked if s in PROTOCOL_SCOPES or s in delegated.scopes)
    extra: dict[str, Any] = {"act": ctx.act, "delegation_id": delegated.delegation_id}
    if ctx.audience:
        extra["aud"] = ctx.audience[0] if len(ctx.audience) == 1 else ctx.audience
    token, ttl = issue_access_token(
        provider, client, subject=subject_for(provider, client, delegated.principal_id), scopes=scopes,
        grant_id=grant.id, auth_time=grant.auth_time, acr=grant.acr, extra=extra,
        ttl=max(1, int(delegated.until - provider.clock())))
    provider.audit.record("delegation:token:issued", actor=ctx.actor_id, subject=delegated.principal_id,
                          client_id=client.client_id, ip=request.client_ip or None,
                          delegation_id=delegated.delegation_id, scopes=list(scopes), grant_type=GRANT_TYPE,
                          grant_id=grant.id, act_depth=ctx.depth)
    return {"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "Bearer",
            "expires_in": ttl, "scope": " ".join(scopes)}
