"""DelegationService: create, accept, decline, revoke, give up, list, teenager consent, the hot-path `check`, the
guardian sync from the insurer registry and the lapse job. Rules live in policy.py; this module gathers facts,
stores the outcome, and writes an audit event (and, when someone else acted for a person, a notification).

Construction (no container wiring here): `DelegationService(db, store, audit, settings.domain(
DelegationSettings.from_env), clock)` with the process `Database`, `EphemeralStore`, `AuditLog` and a clock
returning aware UTC datetimes (`idp.db.utcnow`).

Guardians act for minors who may have no account yet. `sync_guardians` gives such a child a *managed* account
from their registry record: kind "citizen", username and `national_id` the registry number (the keys enrollment
uses), no password, `identity.managed = "registry"`. The child thus has a stable `id` (the `sub` tokens carry) from
the first day; when they enrol (from the enrollment minimum age) enrollment finds that account by username and
sets their password on it, so the same `sub` and the guardian delegations carry over (enrollment then treats it
as a recovery and revokes the account's sessions and tokens: the parent signs in again).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from idp.accounts.models import Account
from idp.audit import AuditLog
from idp.cards.models import Professional, ProfessionalActivity, ProfessionalExercise
from idp.db import Database, open_transaction, utcnow
from idp.delegation import errors, policy
from idp.delegation.config import DelegationSettings
from idp.delegation.interfaces import (
    Actor,
    Clock,
    DelegationFilter,
    DelegationRequest,
    DelegationView,
    EffectiveRights,
    GuardianSync,
    NotificationView,
    Party,
)
from idp.delegation.models import Delegation, DelegationNotification
from idp.enrollment.models import RegistryLink, RegistryRecord
from idp.stamped import StampedCache
from idp.store import EphemeralStore

__all__ = ["DelegationService"]

# A delegate's active delegation rows (detached, read only) and their guardians' principals' birth dates.
_Held = tuple[tuple[Delegation, ...], dict[str, date | None]]

log = logging.getLogger("mandat.delegation")

REGISTRY = "registry"
LINK_REMOVED = "registry_link_removed"
_BATCH = 500
_LIVE = ("pending", "active")

_Principal = aliased(Account, name="principal")
_Delegate = aliased(Account, name="delegate")

# `check` keeps the rows it read, per process, while they are known current: every change made through this
# service writes a new random stamp to the ephemeral store after it commits (Redis: shared by every process), and a
# kept row counts only under the stamp that was current when it was read. So a revocation, a lapse, a consent
# withdrawn take effect at the next check everywhere, at the cost of one store read. So does any other
# `Database.transaction()` writing delegations or accounts (an account's status, kind or birth date): see
# `_written`. Raw SQL reaches kept rows within `check_cache_seconds`, or at once after `changed()`.
_CHECK_CACHE_MAX = 50_000

# The hot path: one primary-key probe joined to the two accounts by theirs.
_CHECK = (
    select(Delegation.id, Delegation.principal_id, Delegation.delegate_id, Delegation.kind, Delegation.scopes,
           Delegation.context, Delegation.valid_from, Delegation.valid_until, Delegation.status,
           Delegation.expiry_reason, Delegation.teen_consent_at, Delegation.teen_consent_withdrawn_at,
           _Principal.kind, _Principal.status, _Principal.birthdate, _Delegate.kind, _Delegate.status)
    .join(_Principal, _Principal.id == Delegation.principal_id)
    .join(_Delegate, _Delegate.id == Delegation.delegate_id)
)


def view_of(row: Delegation) -> DelegationView:
    return DelegationView(
        id=row.id, principal_id=row.principal_id, delegate_id=row.delegate_id, kind=row.kind,
        scopes=tuple(row.scopes), context=row.context, valid_from=row.valid_from, valid_until=row.valid_until,
        status=row.status, source=row.source, created_by=row.created_by, reason=row.reason,
        created_at=row.created_at, updated_at=row.updated_at, responded_at=row.responded_at,
        revoked_at=row.revoked_at, revoked_by=row.revoked_by, revocation_reason=row.revocation_reason,
        expired_at=row.expired_at, expiry_reason=row.expiry_reason, teen_consent_at=row.teen_consent_at,
        teen_consent_withdrawn_at=row.teen_consent_withdrawn_at)


def stored_of(row: Delegation) -> policy.StoredDelegation:
    return policy.StoredDelegation(
        id=row.id, principal_id=row.principal_id, delegate_id=row.delegate_id, kind=row.kind,
        scopes=tuple(row.scopes), context=row.context, valid_from=row.valid_from, valid_until=row.valid_until,
        status=row.status, expiry_reason=row.expiry_reason, teen_consent_at=row.teen_consent_at,
        teen_consent_withdrawn_at=row.teen_consent_withdrawn_at)


def party_of(account: Account) -> Party:
    return Party(id=account.id, kind=account.kind, status=account.status, birthdate=account.birthdate)


_NOTICES = {
    "delegation:created": "{actor} created a {kind} delegation: {delegate} may act for you ({scopes}).",
    "delegation:invited": "{principal} asks you to act for them ({scopes}). Accept or decline it.",
    "delegation:revoked": "{actor} revoked the {kind} delegation of {delegate} to act for you.",
}


class DelegationService:
    def __init__(self, db: Database, store: EphemeralStore, audit: AuditLog, settings: DelegationSettings,
                 clock: Clock = utcnow, *, check_cache_seconds: float = 2.0) -> None:
        self._db = db
        self._store = store
        self._audit = audit
        self._settings = settings
        self._kept: StampedCache[tuple[Any, ...]] = StampedCache(store, "delegation", max_age=check_cache_seconds,
                                                                  max_items=_CHECK_CACHE_MAX)
        # What `active_for` reads, per delegate, under the same stamp: a change renews it, which makes both stale.
        self._held: StampedCache[_Held] = StampedCache(store, "delegation", max_age=check_cache_seconds,
                                                       max_items=_CHECK_CACHE_MAX)
        self.clock = clock
        # Any transaction writing delegations, or the accounts they join (status, birth date), makes both stale,
        # whichever code wrote them; `changed()` remains for writes the ORM does not see (raw SQL).
        db.after_commit.append(self._written)

    async def _written(self, tables: frozenset[str]) -> None:
        if not tables.isdisjoint((Account.__tablename__, Delegation.__tablename__)):
            await self._kept.committed()

    @property
    def settings(self) -> DelegationSettings:
        return self._settings

    async def changed(self) -> None:
        """Delegations, or the accounts they join, changed: every process's kept `check` rows are stale now.
        Called inside an open `Database.transaction()`, it takes effect when that transaction commits."""
        await self._kept.changed()

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """A transaction that changes delegations; once it has committed, `changed()`. Joined to a caller's open
        transaction (Database.transaction), the stamp is renewed when that one commits."""
        joined = open_transaction() is not None
        async with self._db.transaction() as session:
            if joined:
                self._kept.changed_after_commit(session)
            yield session
        if not joined:
            await self._kept.changed()

    # --- create -------------------------------------------------------------------------------------------

    async def create(self, request: DelegationRequest, actor: Actor) -> DelegationView:
        """Create a delegation if the policy allows it: an administrator's is `active` at once, a person's proxy
        `pending` until the delegate accepts. Refusals are typed (`errors.DelegationError`) and audited."""
        now = self.clock()
        try:
            if not actor.admin and actor.account_id is not None:
                await self._limit(actor.account_id, now)
            async with self._writing() as session:
                principal = await self._account(session, request.principal_id)
                delegate = await self._account(session, request.delegate_id)
                facts = await self._facts(session, request, principal, delegate, actor)
                decision = policy.decide_new(request, party_of(principal), party_of(delegate), actor, facts, now,
                                             self._settings)
                row = self._insert(session, request, decision, actor, now)
                await session.flush()
                self._after_create(session, row, actor, principal, delegate)
                return view_of(row)
        except errors.DelegationError as refusal:
            self._audit.record("delegation:refused", actor=actor.name, subject=request.principal_id,
                               rule=refusal.rule, principal=request.principal_id, delegate=request.delegate_id,
                               kind=request.kind, scopes=sorted(request.scopes), detail=refusal.detail or None)
            raise

    async def _limit(self, account_id: str, now: datetime) -> None:
        key = f"delegation:created:{account_id}:{now.date().isoformat()}"
        if await self._store.incr(key, 86400) > self._settings.invitations_per_day:
            raise errors.RateLimited(account_id)

    async def _account(self, session: AsyncSession, account_id: str) -> Account:
        account = await session.get(Account, account_id)
        if account is None:
            raise errors.UnknownAccount(account_id)
        return account

    async def _facts(self, session: AsyncSession, request: DelegationRequest, principal: Account,
                     delegate: Account, actor: Actor) -> policy.Facts:
        structures = None
        if request.kind == "assistant" and principal.kind == "professional" and principal.national_id:
            structures = await self._structures(session, principal.national_id)
        link = False
        if request.kind == "guardian" and principal.national_id and delegate.national_id:
            link = await self._linked(session, principal.national_id, delegate.national_id)
        holds = False
        if actor.account_id is not None and actor.account_id != principal.id:
            holds = bool(await session.scalar(select(exists().where(
                Delegation.principal_id == principal.id, Delegation.delegate_id == actor.account_id,
                Delegation.status.in_(_LIVE)))))
        return policy.Facts(structures=structures, registry_link=link, actor_holds_delegation=holds)

    @staticmethod
    async def _structures(session: AsyncSession, national_id: str) -> frozenset[str] | None:
        if await session.get(Professional, national_id) is None:
            return None
        result = await session.scalars(
            select(ProfessionalActivity.identifiant_technique_structure)
            .join(ProfessionalExercise, ProfessionalExercise.id == ProfessionalActivity.exercise_id)
            .where(ProfessionalExercise.national_id == national_id))
        return frozenset(structure for structure in result if structure)

    @staticmethod
    async def _linked(session: AsyncSession, child_number: str, parent_number: str) -> bool:
        return bool(await session.scalar(select(exists().where(
            RegistryLink.child_number == child_number, RegistryLink.parent_number == parent_number))))

    def _insert(self, session: AsyncSession, request: DelegationRequest, decision: policy.Decision, actor: Actor,
                now: datetime) -> Delegation:
        row = Delegation(
            principal_id=request.principal_id, delegate_id=request.delegate_id, kind=request.kind,
            scopes=list(decision.scopes), context=request.context if request.kind == "assistant" else None,
            valid_from=decision.valid_from, valid_until=decision.valid_until, status=decision.status,
            source=decision.source, created_by=actor.name, reason=request.reason, created_at=now, updated_at=now)
        session.add(row)
        return row

    def _after_create(self, session: AsyncSession, row: Delegation, actor: Actor, principal: Account,
                      delegate: Account) -> None:
        self._event("delegation:created", row, actor)
        if actor.account_id != principal.id:
            self._notify(session, principal.id, row, "delegation:created", actor, principal, delegate)
        if row.status == "pending":
            self._notify(session, delegate.id, row, "delegation:invited", actor, principal, delegate)

    def _event(self, tag: str, row: Delegation, actor: Actor | str, **extra: Any) -> None:
        self._audit.record(tag, actor=actor if isinstance(actor, str) else actor.name, subject=row.principal_id,
                           delegation_id=row.id, principal=row.principal_id, delegate=row.delegate_id,
                           kind=row.kind, scopes=list(row.scopes), status=row.status, source=row.source,
                           context=row.context, **extra)

    def _notify(self, session: AsyncSession, account_id: str, row: Delegation, event: str, actor: Actor | str,
                principal: Account, delegate: Account) -> None:
        who = actor if isinstance(actor, str) else ("An administrator" if actor.admin else actor.name)
        message = _NOTICES[event].format(
            actor=who, kind=row.kind, scopes=", ".join(row.scopes), principal=principal.display_name,
            delegate=delegate.display_name)
        session.add(DelegationNotification(account_id=account_id, delegation_id=row.id, event=event,
                                           message=message[:500], created_at=self.clock()))

    # --- changes ------------------------------------------------------------------------------------------

    async def accept(self, delegation_id: str, actor: Actor) -> DelegationView:
        return await self._change("accept", delegation_id, actor, None)

    async def decline(self, delegation_id: str, actor: Actor, reason: str | None = None) -> DelegationView:
        return await self._change("decline", delegation_id, actor, reason)

    async def revoke(self, delegation_id: str, actor: Actor, reason: str) -> DelegationView:
        """By the principal or an administrator (see policy.check_change for guardians)."""
        return await self._change("revoke", delegation_id, actor, reason)

    async def give_up(self, delegation_id: str, actor: Actor, reason: str | None = None) -> DelegationView:
        """The delegate stops acting for the principal."""
        return await self._change("give_up", delegation_id, actor, reason)

    async def _change(self, action: str, delegation_id: str, actor: Actor, reason: str | None) -> DelegationView:
        now = self.clock()
        async with self._writing() as session:
            row = await self._locked(session, delegation_id)
            policy.check_change(action, stored_of(row), actor)
            row.updated_at = now
            if action == "accept":
                row.status, row.responded_at = "active", now
                tag = "delegation:accepted"
            elif action == "decline":
                row.status, row.responded_at, row.revocation_reason = "declined", now, reason
                tag = "delegation:declined"
            else:
                row.status, row.revoked_at, row.revoked_by = "revoked", now, actor.name
                row.revocation_reason = reason or action
                tag = "delegation:revoked" if action == "revoke" else "delegation:given_up"
            self._event(tag, row, actor, reason=reason)
            if action == "revoke" and actor.account_id != row.principal_id:
                principal = await self._account(session, row.principal_id)
                delegate = await self._account(session, row.delegate_id)
                self._notify(session, row.principal_id, row, "delegation:revoked", actor, principal, delegate)
            return view_of(row)

    async def _locked(self, session: AsyncSession, delegation_id: str) -> Delegation:
        row = await session.scalar(select(Delegation).where(Delegation.id == delegation_id).with_for_update())
        if row is None:
            raise errors.DelegationNotFound(delegation_id)
        return row

    # --- teenager consent ---------------------------------------------------------------------------------

    async def consent(self, delegation_id: str, actor: Actor) -> DelegationView:
        """The teenager (the principal) lets their guardian's access continue past the age limit. Reactivates a
        delegation that lapsed for want of consent; extends its end to the consent age."""
        return await self._consent(delegation_id, actor, give=True)

    async def withdraw_consent(self, delegation_id: str, actor: Actor) -> DelegationView:
        """The teenager withdraws consent: the guardian's access ends now (the delegation expires)."""
        return await self._consent(delegation_id, actor, give=False)

    async def _consent(self, delegation_id: str, actor: Actor, *, give: bool) -> DelegationView:
        now = self.clock()
        async with self._writing() as session:
            row = await self._locked(session, delegation_id)
            teen = await self._account(session, row.principal_id)
            if actor.acting_for is not None:
                raise errors.RedelegationForbidden(f"{actor.name} acts for {actor.acting_for}")
            if actor.account_id != teen.id:
                raise errors.NotThePrincipal(f"{actor.name} on {row.id}")
            today = policy.local_date(now, self._settings.zone())
            policy.check_consent(stored_of(row), party_of(teen), today, self._settings)
            assert teen.birthdate is not None  # check_consent refuses without one
            row.updated_at = now
            if give:
                row.teen_consent_at = now
                row.valid_until = policy.guardian_end(teen.birthdate, self._settings, consents=True)
                if row.status == "expired" and row.expiry_reason in (errors.TeenConsentRequired.rule,
                                                                      errors.TeenConsentWithdrawn.rule):
                    row.status, row.expired_at, row.expiry_reason = "active", None, None
                tag = "delegation:consented"
            else:
                row.teen_consent_withdrawn_at = now
                if row.status in _LIVE:
                    row.status, row.expired_at = "expired", now
                    row.expiry_reason = errors.TeenConsentWithdrawn.rule
                tag = "delegation:consent_withdrawn"
            self._event(tag, row, actor)
            return view_of(row)

    # --- reads --------------------------------------------------------------------------------------------

    async def get(self, delegation_id: str) -> DelegationView:
        async with self._db.session() as session:
            row = await session.get(Delegation, delegation_id)
            if row is None:
                raise errors.DelegationNotFound(delegation_id)
            return view_of(row)

    async def find(self, where: DelegationFilter) -> list[DelegationView]:
        query = select(Delegation)
        if where.principal_id is not None:
            query = query.where(Delegation.principal_id == where.principal_id)
        if where.delegate_id is not None:
            query = query.where(Delegation.delegate_id == where.delegate_id)
        if where.status is not None:
            query = query.where(Delegation.status == where.status)
        if where.kind is not None:
            query = query.where(Delegation.kind == where.kind)
        async with self._db.session() as session:
            rows = await session.scalars(query.order_by(Delegation.created_at, Delegation.id).limit(where.limit))
            return [view_of(row) for row in rows]

    async def given(self, principal_id: str, status: str | None = None) -> list[DelegationView]:
        return await self.find(DelegationFilter(principal_id=principal_id, status=status))

    async def received(self, delegate_id: str, status: str | None = None) -> list[DelegationView]:
        return await self.find(DelegationFilter(delegate_id=delegate_id, status=status))

    async def active_for(self, delegate_id: str, at: datetime) -> list[DelegationView]:
        """Delegations `delegate_id` may use at `at` (the "act for…" chooser). Guardian age rules are applied
        here too, so a delegation past the age limit is not offered even if the lapse job has not run."""
        held = await self._held.get(delegate_id, lambda: self._held_by(delegate_id))
        rows, births = held if held is not None else ((), {})
        out = []
        for row in rows:
            if not row.valid_from <= at < row.valid_until:
                continue
            if row.kind == "guardian":
                born = births.get(row.principal_id)
                if born is None or policy.lapse_rule(stored_of(row), Party(row.principal_id, "citizen",
                                                                           birthdate=born), at, self._settings):
                    continue
            out.append(view_of(row))
        return out

    async def _held_by(self, delegate_id: str) -> _Held:
        """The delegate's active delegations whatever their dates (`active_for` applies them at each call), and
        the birth dates of their guardians' principals; kept per process under the delegation stamp."""
        async with self._db.session() as session:
            rows = tuple(await session.scalars(
                select(Delegation).where(Delegation.delegate_id == delegate_id, Delegation.status == "active")
                .order_by(Delegation.valid_until)))
            guardians = {row.principal_id for row in rows if row.kind == "guardian"}
            births: dict[str, date | None] = {}
            if guardians:
                births = dict((await session.execute(
                    select(Account.id, Account.birthdate).where(Account.id.in_(guardians)))).all())
        return rows, births

    async def check(self, delegation_id: str, delegate_id: str, scopes: frozenset[str] | None, at: datetime, *,
                    act_depth: int = 1) -> EffectiveRights:
        """The hot path (token issuance, introspection, refresh): one indexed query, then the pure policy.
        Returns the effective scopes (∩ `scopes` when given) or raises the typed refusal."""
        policy.check_act_depth(act_depth, self._settings)
        found = await self._check_row(delegation_id)
        if found is None:
            raise errors.DelegationNotFound(delegation_id)
        (did, principal_id, stored_delegate, kind, stored_scopes, context, valid_from, valid_until, status,
         expiry_reason, consent_at, withdrawn_at, p_kind, p_status, p_birth, d_kind, d_status) = found
        stored = policy.StoredDelegation(
            id=did, principal_id=principal_id, delegate_id=stored_delegate, kind=kind, scopes=tuple(stored_scopes),
            context=context, valid_from=valid_from, valid_until=valid_until, status=status,
            expiry_reason=expiry_reason, teen_consent_at=consent_at, teen_consent_withdrawn_at=withdrawn_at)
        principal = Party(principal_id, p_kind, p_status, p_birth)
        delegate = Party(delegate_id, d_kind, d_status) if delegate_id == stored_delegate else Party(delegate_id, "")
        return policy.effective_rights(stored, principal, delegate, scopes, at, self._settings, act_depth=act_depth)

    async def _check_row(self, delegation_id: str) -> Any:
        """The row `check` needs, kept per process under the delegation stamp (idp/stamped.py)."""
        async def load() -> tuple[Any, ...] | None:
            async with self._db.session() as session:
                found = (await session.execute(_CHECK.where(Delegation.id == delegation_id))).one_or_none()
            return None if found is None else tuple(found)

        return await self._kept.get(delegation_id, load)

    async def notifications(self, account_id: str, *, limit: int = 50,
                            unread_only: bool = False) -> list[NotificationView]:
        query = select(DelegationNotification).where(DelegationNotification.account_id == account_id)
        if unread_only:
            query = query.where(DelegationNotification.read_at.is_(None))
        async with self._db.session() as session:
            rows = await session.scalars(query.order_by(DelegationNotification.id.desc()).limit(limit))
            return [NotificationView(id=n.id, account_id=n.account_id, delegation_id=n.delegation_id,
                                     event=n.event, message=n.message, created_at=n.created_at, read_at=n.read_at)
                    for n in rows]

    async def mark_read(self, account_id: str, ids: Iterable[int]) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(DelegationNotification)
                .where(DelegationNotification.account_id == account_id, DelegationNotification.id.in_(list(ids)),
                       DelegationNotification.read_at.is_(None))
                .values(read_at=self.clock()))

    async def account_id(self, username: str) -> str:
        """The id of the account signing in as `username` (CLI and admin pages name people that way)."""
        async with self._db.session() as session:
            found = await session.scalar(select(Account.id).where(Account.username == username))
        if found is None:
            raise errors.UnknownAccount(username)
        return found

    # --- jobs ---------------------------------------------------------------------------------------------

    async def lapse_expired(self, now: datetime | None = None) -> int:
        """The scheduled job: mark `expired` every live delegation past its end or (guardians) past the age
        rules, naming the rule in `expiry_reason`. `check` refuses them at use anyway, so a missed run only
        delays the status shown in lists. Returns how many lapsed."""
        now = now or self.clock()
        zone = self._settings.zone()
        # A guardian may lapse before valid_until when the age settings changed: read every live guardian
        # delegation whose child is at least the age limit (coarse cut, exact rule in policy).
        cutoff = years_before(policy.local_date(now, zone), self._settings.age_limit) + timedelta(days=1)
        lapsed = 0
        async with self._writing() as session:
            rows = list(await session.scalars(
                select(Delegation).where(Delegation.status.in_(_LIVE), Delegation.valid_until <= now)
                .with_for_update()))
            guardian_rows = list(await session.scalars(
                select(Delegation).join(Account, Account.id == Delegation.principal_id)
                .where(Delegation.status.in_(_LIVE), Delegation.kind == "guardian", Delegation.valid_until > now,
                       Account.birthdate <= cutoff).with_for_update(of=Delegation)))
            births: dict[str, date | None] = {}
            principals = {row.principal_id for row in rows + guardian_rows if row.kind == "guardian"}
            if principals:
                births = dict((await session.execute(
                    select(Account.id, Account.birthdate).where(Account.id.in_(principals)))).all())
            for row in rows + guardian_rows:
                principal = Party(row.principal_id, "citizen", birthdate=births.get(row.principal_id))
                rule = policy.lapse_rule(stored_of(row), principal, now, self._settings)
                if rule is None:
                    continue
                row.status, row.expired_at, row.expiry_reason, row.updated_at = "expired", now, rule, now
                self._event("delegation:expired", row, "job:lapse", rule=rule)
                lapsed += 1
        return lapsed

    async def sync_guardians(self, today: date | None = None) -> GuardianSync:
        """Create guardian delegations from the registry's parental links: for each link whose parent has an
        enrolled (citizen) account and whose child is under the age limit, a `registry` delegation of every
        delegable scope, active at once, ending at the age limit. Gives the child a managed account if they have
        none (module note). Idempotent: a pair that already has a guardian delegation (in any state except one
        revoked because its link had disappeared) is skipped, so an administrator's revocation sticks. Then
        revokes the delegations whose link disappeared."""
        now = self.clock()
        today = today or policy.local_date(now, self._settings.zone())
        limit = self._settings.age_limit
        coarse = years_before(today, limit) - timedelta(days=1)  # younger children only; exact age in policy
        parent = aliased(Account, name="parent")
        query = (
            select(RegistryLink.child_number, parent.id, RegistryRecord)
            .join(RegistryRecord, RegistryRecord.number == RegistryLink.child_number)
            .join(parent, and_(parent.national_id == RegistryLink.parent_number, parent.kind == "citizen",
                               parent.password_hash.is_not(None)))
            .where(RegistryRecord.birth_date > coarse)
            .order_by(RegistryLink.id)
        )
        created = managed = skipped = 0
        async with self._db.session() as session:
            links = [(number, parent_id, record) for number, parent_id, record in (await session.execute(query))]
        scopes = tuple(s for s in self._settings.delegable_scopes if policy.role_allows("citizen", s, self._settings))
        for start in range(0, len(links), _BATCH):
            batch = [link for link in links[start:start + _BATCH]
                     if policy.age_on(link[2].birth_date, today) < limit]
            skipped += min(_BATCH, len(links) - start) - len(batch)
            if not batch:
                continue
            c, m, s = await self._sync_batch(batch, scopes, now)
            created, managed, skipped = created + c, managed + m, skipped + s
        revoked = await self.revoke_unlinked_guardians()
        return GuardianSync(created=created, managed_accounts=managed, revoked=revoked, skipped=skipped)

    async def _sync_batch(self, batch: Sequence[tuple[str, str, RegistryRecord]], scopes: tuple[str, ...],
                          now: datetime) -> tuple[int, int, int]:
        created = managed = skipped = 0
        async with self._writing() as session:
            numbers = {record.number for _, _, record in batch}
            children = {a.username: a for a in await session.scalars(
                select(Account).where(Account.username.in_(numbers)))}
            for _, _, record in batch:
                child = children.get(record.number)
                if child is None:
                    child = _managed_account(record, now)
                    session.add(child)
                    children[record.number] = child
                    managed += 1
                elif (child.identity or {}).get("managed") == REGISTRY and child.birthdate != record.birth_date:
                    child.birthdate, child.updated_at = record.birth_date, now
            await session.flush()
            child_ids = [child.id for child in children.values()]
            existing = {
                (principal_id, delegate_id)
                for principal_id, delegate_id, status, reason in await session.execute(
                    select(Delegation.principal_id, Delegation.delegate_id, Delegation.status,
                           Delegation.revocation_reason)
                    .where(Delegation.kind == "guardian", Delegation.principal_id.in_(child_ids)))
                if not (status == "revoked" and reason == LINK_REMOVED)
            }
            parents = {a.id: a for a in await session.scalars(
                select(Account).where(Account.id.in_({parent_id for _, parent_id, _ in batch})))}
            actor = Actor(label=REGISTRY)
            for _, parent_id, record in batch:
                child = children[record.number]
                if child.kind != "citizen" or (child.id, parent_id) in existing:
                    skipped += 1
                    continue
                request = DelegationRequest(kind="guardian", principal_id=child.id, delegate_id=parent_id,
                                            scopes=scopes, reason="registry parental link")
                try:
                    decision = policy.decide_new(request, party_of(child), party_of(parents[parent_id]), actor,
                                                 policy.Facts(registry_link=True), now, self._settings,
                                                 source=REGISTRY)
                except errors.DelegationError as refusal:
                    log.info("guardian sync skipped %s → %s: %s", parent_id, child.id, refusal.rule)
                    skipped += 1
                    continue
                row = self._insert(session, request, decision, actor, now)
                existing.add((child.id, parent_id))
                await session.flush()
                self._event("delegation:created", row, actor)
                created += 1
        return created, managed, skipped

    async def run_job(self) -> dict[str, int]:
        """The periodic job (idp.domains.Job): guardians of parents who now have an account, links that
        disappeared, and delegations past their end."""
        synced = await self.sync_guardians()
        lapsed = await self.lapse_expired()
        return {"guardians_created": synced.created, "guardians_revoked": synced.revoked, "lapsed": lapsed}

    async def revoke_unlinked_guardians(self) -> int:
        """Revoke live guardian delegations whose registry link is gone (call after every `registry import`)."""
        now = self.clock()
        principal, delegate = aliased(Account), aliased(Account)
        linked = exists().where(RegistryLink.child_number == principal.national_id,
                                RegistryLink.parent_number == delegate.national_id)
        async with self._writing() as session:
            rows = list(await session.scalars(
                select(Delegation)
                .join(principal, principal.id == Delegation.principal_id)
                .join(delegate, delegate.id == Delegation.delegate_id)
                .where(Delegation.kind == "guardian", Delegation.status.in_(_LIVE), ~linked)
                .with_for_update(of=Delegation)))
            for row in rows:
                row.status, row.revoked_at, row.revoked_by = "revoked", now, REGISTRY
                row.revocation_reason, row.updated_at = LINK_REMOVED, now
                self._event("delegation:revoked", row, REGISTRY, reason=LINK_REMOVED)
        return len(rows)

    async def count(self) -> int:
        async with self._db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(Delegation)) or 0)


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return date(day.year - years, 3, 1)


def _managed_account(record: RegistryRecord, now: datetime) -> Account:
    return Account(
        username=record.number, kind="citizen", status="active", password_hash=None,
        given_name=record.given_names, family_name=record.family_name, birthdate=record.birth_date,
        national_id=record.number, created_at=now, updated_at=now,
        identity={"managed": REGISTRY, "identity_status": "QUAL" if record.qualified else "VALI",
                  "health_insurance_number": record.number, "health_insurance_number_kind": record.kind})
