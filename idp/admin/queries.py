"""Admin reads that span domains or need a keyset page the domain services do not offer: an account's
credentials (password, passkeys, CPS card) and a page of delegations (DelegationService.find has no cursor).
Rows never leave this module: callers get the services' own views or plain dicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from idp.accounts.models import Account
from idp.cards.models import Professional
from idp.db import Database
from idp.delegation.interfaces import DelegationView
from idp.delegation.models import Delegation
from idp.delegation.service import view_of
from idp.oidc.assurance import EIDAS1, EIDAS3
from idp.passkeys.models import WebAuthnCredential

__all__ = ["DelegationPageFilter", "credentials", "delegation_page"]


async def credentials(db: Database, account: Account) -> list[dict[str, Any]]:
    """What the person can sign in with: a password, each passkey or security key, a CPS card (a professional
    listed in the directory: the card itself is checked against the directory at each sign-in)."""
    blank = {"id": None, "name": None, "acr": None, "aaguid": None, "national_id": None, "created_at": None,
             "last_used_at": None}
    found: list[dict[str, Any]] = []
    if account.password_hash:
        found.append({**blank, "type": "password", "acr": EIDAS1})
    async with db.session() as session:
        keys = await session.scalars(select(WebAuthnCredential).where(WebAuthnCredential.account_id == account.id)
                                     .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id))
        for key in keys:
            found.append({**blank, "type": "passkey", "id": key.id, "name": key.name, "acr": key.acr,
                          "aaguid": key.aaguid, "created_at": key.created_at, "last_used_at": key.last_used_at})
        if account.kind == "professional" and account.national_id:
            professional = await session.get(Professional, account.national_id)
            if professional is not None:
                found.append({**blank, "type": "card", "acr": EIDAS3, "national_id": professional.national_id,
                              "created_at": professional.created_at})
    return found


@dataclass(frozen=True, slots=True)
class DelegationPageFilter:
    principal_id: str | None = None
    delegate_id: str | None = None
    kind: str | None = None
    status: str | None = None
    context: str | None = None  # a structure-scoped administrator sees only its structure


async def delegation_page(db: Database, where: DelegationPageFilter, *, after: tuple[datetime, str] | None,
                          limit: int) -> list[DelegationView]:
    """Delegations in (created_at, id) order, starting after `after`: stable while delegations are added."""
    query = select(Delegation)
    for column, value in ((Delegation.principal_id, where.principal_id), (Delegation.delegate_id, where.delegate_id),
                          (Delegation.kind, where.kind), (Delegation.status, where.status),
                          (Delegation.context, where.context)):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        created_at, delegation_id = after
        query = query.where(or_(Delegation.created_at > created_at,
                                and_(Delegation.created_at == created_at, Delegation.id > delegation_id)))
    query = query.order_by(Delegation.created_at, Delegation.id).limit(limit)
    async with db.session() as session:
        return [view_of(row) for row in await session.scalars(query)]
