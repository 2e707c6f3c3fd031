"""Tokens issued under a delegation (RFC 8693 §4.1 `act`): what the protocol engine does with a `Delegated`.

A grant acting for someone keeps the actor (who signed in) in `account_id` and the principal in `principal_id`.
Its tokens say so:
- the access token: `sub` = the principal (pairwise for the client), `act: {"sub": <the actor, pairwise>}`,
  `delegation_id`, and the requested scopes narrowed to what the delegation authorises now;
- the ID token: `sub` = the actor (it is about who signed in) and a `delegation` claim naming the principal.

The delegation domain answers through `provider.delegations` (`DelegationPort`); every issuance, refresh,
exchange, userinfo and introspection asks again, so a revoked or lapsed delegation stops its tokens at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from idp.oidc.interfaces import DelegationRefused
from idp.oidc.minting import subject_for
from idp.oidc.models import AuthorizationRequest, Client, Delegated
from idp.oidc.provider import Provider

__all__ = [
    "ACTOR_ONLY_SCOPES", "PROTOCOL_SCOPES", "act_depth", "delegable_part", "delegation_claim", "fitting_offers",
    "narrowed", "offer_for", "principal_summary", "rights_for",
]

# Scopes about the protocol, not about the person's data: kept as asked on a delegated grant.
PROTOCOL_SCOPES = frozenset({"openid", "offline_access"})
# About the actor themself (what they hold as a delegate): never carried by a token for the principal.
ACTOR_ONLY_SCOPES = frozenset({"delegations"})


def delegable_part(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes a delegation must authorise: everything but the protocol's and the actor's own."""
    return frozenset(scopes) - PROTOCOL_SCOPES - ACTOR_ONLY_SCOPES


def narrowed(scopes: Iterable[str], delegated: Delegated) -> tuple[str, ...]:
    """The requested scopes, in their order, keeping the protocol ones and those the delegation authorises."""
    return tuple(s for s in dict.fromkeys(scopes) if s in PROTOCOL_SCOPES or s in delegated.scopes)


def act_depth(claims: Mapping[str, Any]) -> int:
    """How many actors a token carries: 0 without `act`, 1 for a delegate, +1 per nested `act`."""
    depth, act = 0, claims.get("act")
    while isinstance(act, Mapping):
        depth, act = depth + 1, act.get("act")
    return depth


async def rights_for(provider: Provider, delegation_id: str, actor_id: str, scopes: frozenset[str] | None, *,
                     act_depth: int = 1) -> Delegated:
    """The delegation's answer now; refused when the delegation domain is off."""
    port = provider.delegations
    if port is None:
        raise DelegationRefused("delegation_disabled", "delegation is not enabled on this server")
    return await port.rights(delegation_id, actor_id, scopes, act_depth=act_depth)


async def principal_summary(provider: Provider, client: Client, principal_id: str) -> dict[str, Any]:
    """`{"sub", "given_name", "family_name"}` of a principal, `sub` as this client knows them."""
    names = await provider.accounts.claims(principal_id, frozenset({"profile"}), frozenset(), client)
    summary: dict[str, Any] = {"sub": subject_for(provider, client, principal_id)}
    for name in ("given_name", "family_name"):
        if names.get(name):
            summary[name] = names[name]
    return summary


async def delegation_claim(provider: Provider, client: Client, delegated: Delegated) -> dict[str, Any]:
    """The ID token's `delegation` claim: which delegation the person acts under, for whom, with what scopes."""
    return {"id": delegated.delegation_id, "kind": delegated.kind,
            "principal": await principal_summary(provider, client, delegated.principal_id),
            "scopes": sorted(delegated.scopes)}


async def fitting_offers(provider: Provider, request: AuthorizationRequest, actor_id: str) -> list[Delegated]:
    """The delegations the person may use now that authorise at least one of the requested scopes."""
    wanted = delegable_part(request.scopes)
    if provider.delegations is None or not wanted:
        return []
    return [offer for offer in await provider.delegations.offers(actor_id) if offer.scopes & wanted]


def offer_for(provider: Provider, client: Client, offers: list[Delegated], principal_sub: str) -> Delegated | None:
    """The offer whose principal has this `sub` for this client (pairwise subjects differ per client)."""
    return next((o for o in offers if subject_for(provider, client, o.principal_id) == principal_sub), None)
