"""Claims of enrolled citizens for relying portals (a `ClaimSource` of `AccountService`).

- scope `identite_pivot`: the FranceConnect pivot identity (given_name, family_name, birthdate, gender,
  birthplace, birthcountry), as the insurer's record has it;
- scope `health_insurance`: the insurance number, its kind (NIR or NAM) and the INS identity status;
- `verified_claims` (OpenID Connect for Identity Assurance 1.0), only when asked for through the `claims`
  request parameter, for clients allowed `profile` or `identite_pivot`. The address inside it is given only to
  clients allowed `address`: no scope of ours reveals it otherwise.

`scope profile` claims come from the account itself (the core does that). A claim named one by one in the
`claims` parameter is given only if the client is registered for the scope that carries it, so the parameter
never widens what a client may learn. The ID token path calls sources with no scopes (only the named claims):
there the client's registered scopes are the ceiling; on userinfo it is the scopes granted to the token.
"""

from __future__ import annotations

import copy
from typing import Any

from idp.accounts.models import Account
from idp.oidc.models import Client

__all__ = ["CLAIMS", "HEALTH_INSURANCE_CLAIMS", "PIVOT_CLAIMS", "SCOPES", "enrollment_claims"]

PIVOT_CLAIMS = ("given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry")
HEALTH_INSURANCE_CLAIMS = ("health_insurance_number", "health_insurance_number_kind", "identity_status")
SCOPES = ("identite_pivot", "health_insurance")
CLAIMS = ("birthplace", "birthcountry", *HEALTH_INSURANCE_CLAIMS, "verified_claims")
_VERIFIED_CLAIMS_SCOPES = frozenset({"profile", "identite_pivot"})


def _pivot(account: Account, identity: dict[str, Any]) -> dict[str, Any]:
    values = {
        "given_name": account.given_name,
        "family_name": account.family_name,
        "birthdate": account.birthdate.isoformat() if account.birthdate else None,
        "gender": account.gender,
        # FranceConnect sends an empty birthplace for people born abroad; we do the same when it is unknown.
        "birthplace": identity.get("birthplace") or "",
        "birthcountry": identity.get("birthcountry") or "",
    }
    return {name: value for name, value in values.items() if value is not None}


def _health_insurance(identity: dict[str, Any]) -> dict[str, Any]:
    values = {
        "health_insurance_number": identity.get("health_insurance_number"),
        "health_insurance_number_kind": identity.get("health_insurance_number_kind"),
        "identity_status": identity.get("identity_status"),
    }
    return {name: value for name, value in values.items() if value is not None}


def _verified_claims(identity: dict[str, Any], ceiling: frozenset[str]) -> dict[str, Any] | None:
    verified = identity.get("verified_claims")
    if not isinstance(verified, dict):
        return None
    result: dict[str, Any] = copy.deepcopy(verified)
    if "address" not in ceiling:
        result.get("claims", {}).pop("address", None)
    return result


async def enrollment_claims(account: Account, scopes: frozenset[str], requested: frozenset[str],
                            client: Client, *, amr: tuple[str, ...] = ()) -> dict[str, Any]:
    identity = account.identity or {}
    if account.kind != "citizen" or "verified_claims" not in identity:
        return {}
    ceiling = scopes or client.scopes
    result: dict[str, Any] = {}
    if "identite_pivot" in ceiling:
        pivot = _pivot(account, identity)
        wanted: frozenset[str] = frozenset(PIVOT_CLAIMS) if "identite_pivot" in scopes else requested
        result.update({name: value for name, value in pivot.items() if name in wanted})
    if "health_insurance" in ceiling:
        insurance = _health_insurance(identity)
        wanted = frozenset(HEALTH_INSURANCE_CLAIMS) if "health_insurance" in scopes else requested
        result.update({name: value for name, value in insurance.items() if name in wanted})
    if "verified_claims" in requested and ceiling & _VERIFIED_CLAIMS_SCOPES:
        verified = _verified_claims(identity, ceiling)
        if verified is not None:
            result["verified_claims"] = verified
    return result
