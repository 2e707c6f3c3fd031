"""Card sign-in as the IdP sees it: challenge, verification, directory mapping, the account, and PSC claims.

The views (views.py) only translate HTTP; every rule lives here:

- a challenge is bound to one login transaction (the interaction uid) and used once (verify.py);
- a valid card is not enough: the national id must be in the directory (`find_professional`);
- the account of a professional is found by its national id, or created from the directory the first time;
  an existing account of that name that is not this professional's is never taken over.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from idp.accounts.models import Account
from idp.accounts.service import AccountService
from idp.cards.claims import psc_claims
from idp.cards.config import CardSettings
from idp.cards.directory import find_professional
from idp.cards.errors import CardError
from idp.cards.models import Professional
from idp.cards.pki import ChainValidator
from idp.cards.verify import CardResponse, issue_challenge, verify_card_response
from idp.db import Database
from idp.oidc.models import Client
from idp.store import EphemeralStore

__all__ = ["ACCOUNT_KIND", "PSC_SCOPES", "AccountUnavailable", "CardSignIn", "SignedInProfessional"]

ACCOUNT_KIND = "professional"
_TRANSACTION_PREFIX = "interaction:"

# Which PSC claims each scope releases (Pro Santé Connect: `scope_all` is everything; `rpps` the professional
# record; `identity` who the person is). Claims named in the `claims` request parameter are released too.
_IDENTITY = ("SubjectNameID", "preferred_username", "given_name", "family_name", "otherIds", "authMode")
_RPPS = ("SubjectNameID", "SubjectRefPro", "SubjectOrganization", "SubjectOrganizationID", "SubjectRole",
         "Secteur_Activite", "otherIds", "authMode")
PSC_SCOPES: dict[str, tuple[str, ...]] = {
    "identity": _IDENTITY,
    "rpps": _RPPS,
    "scope_all": tuple(dict.fromkeys(_IDENTITY + _RPPS)),
}


def auth_mode_for(amr: tuple[str, ...]) -> str:
    """PSC's `authMode` from how the person signed in: "CARD" for the CPS card (amr `sc`). PSC has no value
    for FIDO keys or passwords; Mandat reports "FIDO" and "PASSWORD" rather than claim a card it never saw."""
    if "sc" in amr:
        return "CARD"
    if "hwk" in amr:
        return "FIDO"
    return "PASSWORD"


class AccountUnavailable(CardError):
    """The card and directory are fine, but the account may not sign in (locked, or not this professional's)."""

    code = "account_unavailable"
    description = "This account cannot sign in at the moment. Contact support."
    status = 403


@dataclass(frozen=True, slots=True)
class SignedInProfessional:
    account: Account
    professional: Professional


class CardSignIn:
    def __init__(self, settings: CardSettings, validator: ChainValidator, *, db: Database, store: EphemeralStore,
                 accounts: AccountService) -> None:
        self.settings = settings
        self.validator = validator
        self._db = db
        self._store = store
        self._accounts = accounts

    @property
    def origin(self) -> str:
        """The origin the card signs over: a signature made for another IdP does not verify here."""
        return self.settings.idp_origin

    async def new_challenge(self, uid: str) -> str:
        return await issue_challenge(self._store, _TRANSACTION_PREFIX + uid, self.settings.challenge_ttl)

    async def sign_in_with_response(self, uid: str, challenge: str, body: Any,
                                    now: dt.datetime | None = None) -> SignedInProfessional:
        """Path A: the agent's answer to a challenge of interaction `uid`."""
        response = CardResponse.from_json(body)
        card = await verify_card_response(self._store, self.validator, transaction_id=_TRANSACTION_PREFIX + uid,
                                          challenge=challenge, response=response, origin=self.origin, now=now)
        return await self._signed_in(card.national_id)

    async def sign_in_with_certificate(self, certificate_der: bytes,
                                       now: dt.datetime | None = None) -> SignedInProfessional:
        """Path B: the TLS client certificate a trusted proxy forwarded (the proxy proved key possession)."""
        await self.validator.crls.refresh_if_due()
        card = self.validator.validate(certificate_der, now=now)
        return await self._signed_in(card.national_id)

    async def _signed_in(self, national_id: str) -> SignedInProfessional:
        professional = await find_professional(self._db, national_id)
        return SignedInProfessional(await self.account_for(professional), professional)

    async def account_for(self, professional: Professional) -> Account:
        """The professional's account, created from the directory record on first sign-in."""
        account = await self._accounts.by_username(professional.national_id)
        if account is None:
            return await self._accounts.create(
                username=professional.national_id, password=None, kind=ACCOUNT_KIND,
                given_name=professional.given_name or None, family_name=professional.family_name or None,
                national_id=professional.national_id)
        if account.kind != ACCOUNT_KIND or account.national_id != professional.national_id:
            raise AccountUnavailable(f"account {account.id} named {professional.national_id} is a {account.kind} "
                                     "account without this national id")
        if account.status != "active":
            raise AccountUnavailable(f"account {account.id} is {account.status}")
        return account

    async def claims(self, account: Account, scopes: frozenset[str], requested: frozenset[str],
                     client: Client, *, amr: tuple[str, ...] = ()) -> dict[str, Any]:
        """Claim source for AccountService: PSC claims of a professional, as the scopes and `claims` ask."""
        if account.kind != ACCOUNT_KIND or not account.national_id:
            return {}
        wanted = set(requested)
        for scope in scopes:
            wanted.update(PSC_SCOPES.get(scope, ()))
        wanted &= set(PSC_SCOPES["scope_all"])
        if not wanted:
            return {}
        try:
            professional = await find_professional(self._db, account.national_id)
        except CardError:
            return {}  # left the directory since: no professional claims rather than stale ones
        claims = psc_claims(professional, auth_mode=auth_mode_for(amr))
        return {name: value for name, value in claims.items() if name in wanted}
