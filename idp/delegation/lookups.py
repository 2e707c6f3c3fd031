"""Read-only look-ups the self-service pages need beside the delegation service: people's display names (one
query for a whole page) and the places of practice of a professional, with the names a person recognises.

The service keeps the rules and decides (`DelegationService._structures` gives the policy the structure ids);
this module only turns ids into words, so a page never shows a bare uuid or a directory code when a name exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from idp.accounts.models import Account, display_name
from idp.cards.models import ProfessionalActivity, ProfessionalExercise
from idp.db import Database
from idp.delegation.interfaces import DelegationView, NotificationView
from idp.delegation.models import Delegation, DelegationNotification
from idp.delegation.service import view_of

__all__ = ["Person", "Structure", "delegations", "latest_notifications", "people", "structure_labels",
           "structures_of"]


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    username: str
    name: str  # given and family names, or the username when the account has none
    kind: str
    birthdate: date | None = None


@dataclass(frozen=True, slots=True)
class Structure:
    id: str  # `identifiant_technique_structure` in the directory: what an assistant delegation's `context` holds
    label: str  # the sign or company name of the site, or the id when the directory has neither
    place: str  # postal code and town, possibly empty


async def people(db: Database, ids: Iterable[str]) -> dict[str, Person]:
    """The accounts among `ids`, by id (ids with no account are absent)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    async with db.session() as session:
        rows = await session.execute(
            select(Account.id, Account.username, Account.given_name, Account.family_name, Account.kind,
                   Account.birthdate).where(Account.id.in_(wanted)))
        return {row.id: Person(row.id, row.username, display_name(row.given_name, row.family_name, row.username),
                               row.kind, row.birthdate) for row in rows}


def _structure(activity: ProfessionalActivity) -> Structure:
    label = (activity.enseigne_commerciale_site or activity.raison_sociale_site
             or activity.identifiant_technique_structure)
    town = activity.bureau_cedex or ""
    place = town if activity.code_postal and town.startswith(activity.code_postal) else " ".join(
        part for part in (activity.code_postal, town) if part)
    return Structure(activity.identifiant_technique_structure, label, place)


async def structures_of(db: Database, national_id: str | None) -> list[Structure]:
    """A professional's places of practice from the directory, in the directory's order, each once."""
    if not national_id:
        return []
    async with db.session() as session:
        rows = await session.scalars(
            select(ProfessionalActivity)
            .join(ProfessionalExercise, ProfessionalExercise.id == ProfessionalActivity.exercise_id)
            .where(ProfessionalExercise.national_id == national_id)
            .order_by(ProfessionalExercise.position, ProfessionalActivity.position))
        found: dict[str, Structure] = {}
        for activity in rows:
            if activity.identifiant_technique_structure and activity.identifiant_technique_structure not in found:
                found[activity.identifiant_technique_structure] = _structure(activity)
    return list(found.values())


async def structure_labels(db: Database, ids: Iterable[str | None]) -> dict[str, Structure]:
    """Names of the structures `ids` (assistant delegations' contexts), whoever practises there."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    async with db.session() as session:
        rows = await session.scalars(select(ProfessionalActivity).where(
            ProfessionalActivity.identifiant_technique_structure.in_(wanted)))
        found: dict[str, Structure] = {}
        for activity in rows:
            found.setdefault(activity.identifiant_technique_structure, _structure(activity))
    return found


async def delegations(db: Database, ids: Iterable[str]) -> dict[str, DelegationView]:
    """The delegations `ids`, by id (the demo outbox names the people of each message)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    async with db.session() as session:
        return {row.id: view_of(row) for row in await session.scalars(
            select(Delegation).where(Delegation.id.in_(wanted)))}


async def latest_notifications(db: Database, *, limit: int = 50) -> list[NotificationView]:
    """Everyone's latest delegation messages, newest first: the demo outbox shows what a mailer would send."""
    async with db.session() as session:
        rows = await session.scalars(
            select(DelegationNotification).order_by(DelegationNotification.id.desc()).limit(limit))
        return [NotificationView(id=n.id, account_id=n.account_id, delegation_id=n.delegation_id, event=n.event,
                                 message=n.message, created_at=n.created_at, read_at=n.read_at) for n in rows]
