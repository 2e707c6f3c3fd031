"""Demo delegations for `make run` (a DEMO_SEEDERS entry, after the enrollment and cards seeders whose people it uses).

It seeds, each part only when what it needs is there (README "Delegation"):

- **assistant**: the demo professional's secretary, a password account (`secretaire`, kind `staff`), with an
  assistant delegation from the demo professional (Dr CLAIRE MEDECIN, idp/cards/testpki.py) for her practice
  (`context`: a structure of hers in the directory) to read and send secure messages and manage appointments. The
  professional's account is created from the directory as her first card sign-in would (idp/cards/service.py), so
  the delegation exists before she ever signs in. Needs the demo directory (card sign-in on, as `make run` does);
- **guardian**: the Québec parent of idp/enrollment/demo.py gets the account enrollment activation would give her
  (username and `national_id` her registry number, names and birth date from the registry, password
  `DEMO_PASSWORD`); `DelegationService.sync_guardians()` then creates her guardian delegation for her child from
  the registry's parental link, exactly as the periodic job would;
- **proxy**: `bob` acts for `alice` (appointments, her record, her profile), created by an administrator (a signed
  form), so active at once;
- **clients**: the demo portal's two clients may ask for the `delegations` scope, the delegated scopes and
  `offline_access`, and use token exchange (RFC 8693).

Idempotent: a person or client that exists is reused; a delegation is created only when that pair has no pending
or active one of that kind, so running it again changes nothing, and a delegation revoked while trying the demo
comes back at the next `make run` (guardians follow `sync_guardians`, where a revocation sticks).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rich.console import Console
from sqlalchemy import select

from idp.accounts.models import Account
from idp.cards.directory import find_professional
from idp.cards.errors import NotInDirectory
from idp.cards.service import ACCOUNT_KIND as PROFESSIONAL_KIND
from idp.cards.testpki import DEMO_PROFESSIONALS
from idp.clients.models import ClientRecord
from idp.container import Container, build_container
from idp.db import utcnow
from idp.delegation.config import DelegationSettings
from idp.delegation.errors import DelegationError
from idp.delegation.interfaces import Actor, DelegationFilter, DelegationRequest, DelegationView
from idp.delegation.service import DelegationService
from idp.demo.seed import DEMO_PASSWORD
from idp.enrollment.config import EnrollmentSettings
from idp.enrollment.demo import DEMO_CHILD, DEMO_PARENT
from idp.enrollment.models import RegistryRecord
from idp.enrollment.service import EnrollmentService
from idp.oidc.models import TOKEN_EXCHANGE
from idp.settings import Settings

__all__ = ["ASSISTANT_SCOPES", "DEMO_SECRETARY", "PORTAL_SCOPES", "PROXY_SCOPES", "DemoDelegations",
           "ensure_demo_clients", "seed_delegations", "seed_demo", "seed_existing"]

DEMO_SECRETARY = {"username": "secretaire", "given_name": "Sophie", "family_name": "Garnier",
                  "email": "secretaire@example.org"}
DEMO_DOCTOR = DEMO_PROFESSIONALS[0]  # the card held by the demo card agent
ASSISTANT_SCOPES = ("profile", "mssante.read", "mssante.send", "appointments.manage")
PROXY_SCOPES = ("profile", "appointments.manage", "dmp.read")
# What the demo clients may ask for besides their own scopes: the switcher's claim, what a delegation can carry
# (so acting for someone yields tokens with those scopes), and a refresh token (to see it stop at revocation).
PORTAL_SCOPES = ("offline_access", "delegations", "appointments.manage", "dmp.read", "mssante.read", "mssante.send")
DEMO_CLIENT_IDS = ("demo-portal", "demo-pro-portal")
ADMIN = Actor.administrator("demo")


@dataclass
class DemoDelegations:
    """What one run found or created, for the console and the tests."""

    clients: list[str] = field(default_factory=list)
    created: list[DelegationView] = field(default_factory=list)
    kept: list[DelegationView] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


async def seed_demo(container: Container, console: Console) -> None:
    """The DEMO_SEEDERS entry."""
    outcome = await seed_delegations(container)
    for view in outcome.created:
        console.print(f"Demo delegation created: {view.kind} {view.id} ({', '.join(view.scopes)})")
    for reason in outcome.skipped:
        console.print(f"[yellow]Demo delegation skipped[/yellow]: {reason}")
    if outcome.created or outcome.kept:
        console.print(f"Demo delegations: secretary [bold]{DEMO_SECRETARY['username']}[/bold], parent "
                      f"[bold]{DEMO_PARENT['number']}[/bold] and bob (password as the other demo accounts); "
                      "see README “Delegation”")


async def seed_existing(settings: Settings, console: Console) -> None:
    """`seed_demo` for a database seeded before delegation existed (`make run` calls it when it seeds nothing)."""
    container = build_container(settings)
    try:
        await seed_demo(container, console)
    finally:
        await container.close()


async def seed_delegations(container: Container, *, from_directory: str = DEMO_DOCTOR.national_id
                           ) -> DemoDelegations:
    outcome = DemoDelegations(clients=await ensure_demo_clients(container))
    service = DelegationService(container.db, container.store, container.audit,
                                container.settings.domain(DelegationSettings.from_env))
    await _assistant(container, service, outcome, from_directory)
    await _guardian(container, service, outcome)
    await _proxy(container, service, outcome)
    await container.audit.flush()
    return outcome


# --- clients ------------------------------------------------------------------------------------------------

async def ensure_demo_clients(container: Container, client_ids: Iterable[str] = DEMO_CLIENT_IDS) -> list[str]:
    """Add PORTAL_SCOPES and the token exchange grant to the demo clients that exist (in place, so a database
    seeded before delegation existed gets them too); returns the ids changed."""
    changed = []
    async with container.db.transaction() as session:
        for record in await session.scalars(select(ClientRecord).where(ClientRecord.client_id.in_(list(client_ids)))):
            scopes = " ".join(dict.fromkeys(record.scopes.split() + list(PORTAL_SCOPES)))
            grants = list(dict.fromkeys([*record.grant_types, TOKEN_EXCHANGE]))
            if scopes != record.scopes or grants != record.grant_types:
                record.scopes, record.grant_types = scopes, grants
                changed.append(record.client_id)
    for client_id in changed:
        container.clients.forget(client_id)
    return changed


# --- people -------------------------------------------------------------------------------------------------

async def _password_account(container: Container, username: str, *, kind: str, given_name: str,
                            family_name: str, email: str | None = None, birthdate: date | None = None,
                            gender: str | None = None, national_id: str | None = None,
                            identity: dict[str, Any] | None = None) -> Account:
    found = await container.accounts.by_username(username)
    if found is not None:
        return found
    return await container.accounts.create(
        username=username, password=DEMO_PASSWORD, kind=kind, given_name=given_name, family_name=family_name,
        email=email, birthdate=birthdate, gender=gender, national_id=national_id, identity=identity)


async def _professional_account(container: Container, national_id: str) -> tuple[Account, list[str]] | str:
    """The professional's account as card sign-in creates it, and her structures; or why there is none."""
    try:
        professional = await find_professional(container.db, national_id)
    except NotInDirectory:
        return f"professional {national_id} is not in the directory (card sign-in is off)"
    structures = [activity.identifiant_technique_structure for exercise in professional.exercises
                  for activity in exercise.activities if activity.identifiant_technique_structure]
    account = await container.accounts.by_username(national_id)
    if account is None:
        account = await container.accounts.create(
            username=national_id, password=None, kind=PROFESSIONAL_KIND,
            given_name=professional.given_name or None, family_name=professional.family_name or None,
            national_id=national_id)
    elif account.kind != PROFESSIONAL_KIND or account.national_id != national_id:
        return f"account {national_id} exists but is not this professional's"
    if not structures:
        return f"professional {national_id} has no structure in the directory"
    return account, structures


async def _parent_account(container: Container) -> Account | str:
    """The account enrollment activation gives the demo parent (EnrollmentService._upsert_account's fields)."""
    number = DEMO_PARENT["number"]
    found = await container.accounts.by_username(number)
    if found is not None:
        return found
    async with container.db.session() as session:
        record = await session.scalar(select(RegistryRecord).where(RegistryRecord.number == number))
    if record is None:
        return f"the demo parent {number} is not in the registry"
    enrollment = EnrollmentService(container.db, container.store,
                                   container.settings.domain(EnrollmentSettings.from_env),
                                   container.key("enrollment-codes"),
                                   hash_password=container.accounts.passwords.hash_sync)
    return await _password_account(
        container, number, kind="citizen", given_name=record.given_names, family_name=record.family_name,
        birthdate=record.birth_date, gender={"F": "female", "M": "male"}.get(record.sex), national_id=number,
        identity=enrollment.identity_claims(record, utcnow()))


# --- delegations --------------------------------------------------------------------------------------------

async def _live(service: DelegationService, kind: str, principal_id: str, delegate_id: str) -> DelegationView | None:
    found = await service.find(DelegationFilter(principal_id=principal_id, delegate_id=delegate_id, kind=kind))
    return next((view for view in found if view.status in ("active", "pending")), None)


async def _ensure(service: DelegationService, outcome: DemoDelegations, request: DelegationRequest) -> None:
    existing = await _live(service, request.kind, request.principal_id, request.delegate_id)
    if existing is not None:
        outcome.kept.append(existing)
        return
    try:
        outcome.created.append(await service.create(request, ADMIN))
    except DelegationError as refusal:
        outcome.skipped.append(f"{request.kind}: {refusal.public} ({refusal.rule})")


async def _assistant(container: Container, service: DelegationService, outcome: DemoDelegations,
                     national_id: str) -> None:
    doctor = await _professional_account(container, national_id)
    if isinstance(doctor, str):
        outcome.skipped.append(f"assistant: {doctor}")
        return
    account, structures = doctor
    secretary = await _password_account(container, DEMO_SECRETARY["username"], kind="staff",
                                        given_name=DEMO_SECRETARY["given_name"],
                                        family_name=DEMO_SECRETARY["family_name"], email=DEMO_SECRETARY["email"])
    context = DEMO_DOCTOR.structure if DEMO_DOCTOR.structure in structures else structures[0]
    await _ensure(service, outcome, DelegationRequest(
        kind="assistant", principal_id=account.id, delegate_id=secretary.id, scopes=ASSISTANT_SCOPES,
        context=context, reason="secrétariat du cabinet (démo)"))


async def _guardian(container: Container, service: DelegationService, outcome: DemoDelegations) -> None:
    parent = await _parent_account(container)
    if isinstance(parent, str):
        outcome.skipped.append(f"guardian: {parent}")
        return
    before = {view.id for view in await service.received(parent.id)}
    await service.sync_guardians()
    child = await container.accounts.by_username(DEMO_CHILD["number"])
    views = [] if child is None else await service.find(DelegationFilter(
        principal_id=child.id, delegate_id=parent.id, kind="guardian"))
    live = [view for view in views if view.status in ("active", "pending")]
    if not live:
        outcome.skipped.append(f"guardian: no live guardian delegation for {DEMO_CHILD['number']} (revoked, or the "
                               "child is past the age limit of MANDAT_JURISDICTION)")
        return
    for view in live:
        (outcome.kept if view.id in before else outcome.created).append(view)


async def _proxy(container: Container, service: DelegationService, outcome: DemoDelegations) -> None:
    alice = await container.accounts.by_username("alice")
    bob = await container.accounts.by_username("bob")
    if alice is None or bob is None:
        outcome.skipped.append("proxy: the demo accounts alice and bob do not exist")
        return
    await _ensure(service, outcome, DelegationRequest(
        kind="proxy", principal_id=alice.id, delegate_id=bob.id, scopes=PROXY_SCOPES,
        reason="procuration signée (démo)"))
