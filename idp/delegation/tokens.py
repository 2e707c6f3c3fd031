"""The delegation domain as the protocol engine sees it: `DelegationTokens` implements `DelegationPort`
(idp/oidc/interfaces.py) over `DelegationService`, and serves the `delegations` claim.

`rights` is the one check every token path makes (authorization code, refresh, token exchange, userinfo,
introspection): the service's `check`, with the policy's refusal turned into `DelegationRefused(rule, sentence)`
so an `error_description` names the rule. `offers` feeds the "act as" page, `on_behalf_of` and the
`delegations` claim: active delegations only, guardian age rules applied at the moment of asking.
"""

from __future__ import annotations

from typing import Any

from idp.accounts.models import Account
from idp.delegation.errors import DelegationError
from idp.delegation.interfaces import DelegationView, EffectiveRights
from idp.delegation.service import DelegationService
from idp.oidc.delegated import principal_summary
from idp.oidc.interfaces import DelegationRefused
from idp.oidc.models import Client, Delegated
from idp.oidc.provider import Provider

__all__ = ["CLAIMS", "SCOPES", "DelegationTokens"]

# The optional scope listing what a user holds as a delegate (a portal's own switcher), and the claims tokens carry.
SCOPES = ("delegations",)
CLAIMS = ("delegations", "delegation", "act")


def _delegated(rights: EffectiveRights) -> Delegated:
    return Delegated(delegation_id=rights.delegation_id, principal_id=rights.principal_id, kind=rights.kind,
                     scopes=rights.scopes, until=rights.until.timestamp())


def _offer(view: DelegationView) -> Delegated:
    return Delegated(delegation_id=view.id, principal_id=view.principal_id, kind=view.kind,
                     scopes=frozenset(view.scopes), until=view.valid_until.timestamp())


class DelegationTokens:
    def __init__(self, service: DelegationService, provider: Provider) -> None:
        self._service = service
        self._provider = provider

    async def rights(self, delegation_id: str, actor_id: str, scopes: frozenset[str] | None, *,
                     act_depth: int = 1) -> Delegated:
        try:
            rights = await self._service.check(delegation_id, actor_id, scopes, self._service.clock(),
                                               act_depth=act_depth)
        except DelegationError as refusal:
            raise DelegationRefused(refusal.rule, f"{refusal.public} ({refusal.rule})") from None
        return _delegated(rights)

    async def offers(self, actor_id: str) -> list[Delegated]:
        """Each active delegation with the scopes it authorises now (a guardian's narrowed by the child's age
        band); those that authorise nothing now are left out."""
        found = []
        for view in await self._service.active_for(actor_id, self._service.clock()):
            try:
                found.append(await self.rights(view.id, actor_id, None))
            except DelegationRefused:
                continue
        return found

    async def delegations_claim(self, account: Account, scopes: frozenset[str], requested: frozenset[str],
                                client: Client, *, amr: tuple[str, ...] = ()) -> dict[str, Any]:
        """A `ClaimSource`: with the `delegations` scope (or the claim asked by name), the active delegations the
        person holds as delegate, principals named with their `sub` as this client knows them."""
        if "delegations" not in scopes and "delegations" not in requested:
            return {}
        listed = []
        for offer in await self.offers(account.id):
            listed.append({
                "id": offer.delegation_id, "kind": offer.kind,
                "principal": await principal_summary(self._provider, client, offer.principal_id),
                "scopes": sorted(offer.scopes),
                "valid_until": int(offer.until),
            })
        return {"delegations": listed}
