"""The delegation rules, as pure functions: no I/O, no session, no clock (`now`/`today` are parameters).

The service gathers the facts (the accounts, the professional's structures, the registry link, the stored
delegation) and asks here; every "no" is a typed `DelegationError` naming its rule (errors.py).

Rules, by name:
- who: `self_delegation`, `account_inactive`, `unknown_kind`, `not_the_principal`, `redelegation_forbidden`
  (an actor acting under a delegation, or holding one from the principal, cannot create or manage the
  principal's delegations), `delegate_kind_not_allowed`;
  assistant: `not_a_professional`, `context_required`, `structure_not_theirs`;
  proxy: `principal_not_citizen`; guardian: `guardian_needs_registry_link`, `guardian_age_limit`,
  `teen_consent_required`, `teen_consent_withdrawn`, `consent_not_applicable`;
- what: `scope_missing`, `scope_not_delegable` (outside the catalogue, or `prescription.sign` whatever the
  catalogue says), `scope_reserved_to_professionals`, `no_scope_granted`;
- how long: `duration_too_long`, `invalid_period`;
- at use: `not_the_delegate`, `delegation_pending`, `delegation_declined`, `delegation_revoked`,
  `delegation_expired`, `delegation_not_yet_valid`, `act_chain_too_deep`.

Ages. A person's age is the number of birthdays they have had: `age_on` below, the same formula enrollment uses
(so "old enough to enrol" and "too old for a guardian" change on the same day). Someone born on 29 February has
their birthday on 1 March in a common year: on 28 February they have not yet completed the year (the 29th,
which would complete it, does not exist), so the age increases the next day. This is the "1 March" rule of
e.g. the UK and New Zealand, and it is the conservative choice here: a parent's access never ends before the
child has completed the years the law counts. Dates are read in the jurisdiction's time zone (settings.zone):
access ends at local midnight starting the birthday, not at UTC midnight.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from idp.delegation import errors
from idp.delegation.config import ACCOUNT_KINDS_FOR, KINDS, NEVER_DELEGABLE, DelegationSettings
from idp.delegation.interfaces import Actor, DelegationRequest, EffectiveRights, Party, consent_holds

__all__ = [
    "Decision", "Facts", "StoredDelegation", "age_on", "birthday", "check_act_depth",
    "check_change", "check_consent", "check_requested_scopes", "decide_new", "effective_rights",
    "guardian_end", "guardian_scopes", "lapse_rule", "local_date", "role_allows",
]


# --- ages and dates -----------------------------------------------------------------------------------------

def age_on(born: date, today: date) -> int:
    """Completed years on `today` (see the module note for 29 February)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def birthday(born: date, age: int) -> date:
    """The day `born` turns `age`: 1 March in a common year for someone born on 29 February."""
    try:
        return born.replace(year=born.year + age)
    except ValueError:  # 29 February in a common year
        return date(born.year + age, 3, 1)


def local_date(at: datetime, zone: tzinfo) -> date:
    return at.astimezone(zone).date()


def start_of(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


# --- scopes -------------------------------------------------------------------------------------------------

def role_allows(kind: str, scope: str, settings: DelegationSettings) -> bool:
    """What an account's own role may ever hold: professionals everything; anyone else nothing reserved."""
    if kind == "professional":
        return True
    return scope not in settings.professional_scopes and scope not in NEVER_DELEGABLE


def check_requested_scopes(scopes: Iterable[str], principal: Party, delegate: Party,
                           settings: DelegationSettings) -> tuple[str, ...]:
    """The scopes a new delegation may list, sorted and deduplicated, or the rule refusing the first bad one."""
    wanted = sorted(set(scopes))
    if not wanted:
        raise errors.ScopeMissing()
    for scope in wanted:
        if scope in NEVER_DELEGABLE:
            raise errors.ScopeNotDelegable(f"{scope} is never delegable")
        if not role_allows(delegate.kind, scope, settings) or not role_allows(principal.kind, scope, settings):
            raise errors.ScopeReservedToProfessionals(f"{scope} for a {delegate.kind} delegate of a {principal.kind}")
        if scope not in settings.delegable_scopes:
            raise errors.ScopeNotDelegable(f"{scope} is not in MANDAT_DELEGATION_SCOPES")
    return tuple(wanted)


# --- guardians ----------------------------------------------------------------------------------------------

def guardian_scopes(born: date, today: date, settings: DelegationSettings, *, consent_at: datetime | None = None,
                    withdrawn_at: datetime | None = None) -> frozenset[str] | None:
    """What a guardian may still do for a child born `born`, on `today`: the scopes of the child's age band
    (None: everything the delegation lists), or the rule refusing (age limit, consent required or withdrawn)."""
    age = age_on(born, today)
    if age >= settings.age_limit:
        if not settings.consent_rule or age >= settings.guardian_consent_until_age:
            raise errors.GuardianAgeLimit(f"child is {age}; limit {settings.age_limit}")
        if not consent_holds(consent_at, withdrawn_at):
            if withdrawn_at is not None:
                raise errors.TeenConsentWithdrawn(f"child is {age}; consent withdrawn {withdrawn_at.isoformat()}")
            raise errors.TeenConsentRequired(f"child is {age}; limit {settings.age_limit}")
    band = [b for b in settings.bands if b.from_age <= max(age, 0)][-1]  # (a date before birth: band 0)
    return band.scopes


def guardian_end(born: date, settings: DelegationSettings, *, consents: bool) -> datetime:
    """The instant a guardian delegation ends at the latest: the start (local midnight) of the birthday of the
    age limit, or with the teenager's consent (where the jurisdiction has the rule) of the consent age."""
    age = settings.guardian_consent_until_age if consents and settings.consent_rule else settings.age_limit
    return start_of(birthday(born, age), settings.zone())


def check_consent(delegation: StoredDelegation, teen: Party, today: date, settings: DelegationSettings) -> None:
    """May `teen` give (or withdraw) consent on this delegation today? Only the principal of a guardian
    delegation, where the jurisdiction has the consent rule, between the age limit and the consent age."""
    if delegation.kind != "guardian" or not settings.consent_rule or teen.birthdate is None:
        raise errors.GuardianConsentNotApplicable(f"{delegation.kind} delegation, rule {settings.consent_rule}")
    if teen.id != delegation.principal_id:
        raise errors.NotThePrincipal(f"{teen.id} is not the principal of {delegation.id}")
    age = age_on(teen.birthdate, today)
    if not settings.age_limit <= age < settings.guardian_consent_until_age:
        raise errors.GuardianConsentNotApplicable(f"teen is {age}")
    if delegation.status in ("revoked", "declined"):
        raise errors.DelegationNotActive(f"delegation is {delegation.status}")


# --- creation -----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Facts:
    """What the service looked up for a new delegation."""

    # The professional principal's structure ids from the directory; None: not in the directory.
    structures: frozenset[str] | None = None
    # A registry parental link delegate → principal exists.
    registry_link: bool = False
    # The actor (not the principal) holds a pending or active delegation from the principal.
    actor_holds_delegation: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    scopes: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime
    status: str  # "active" | "pending"
    source: str  # "self" | "admin" | "registry"


def check_actor(actor: Actor, principal_id: str, *, holds_delegation: bool) -> None:
    """Only the principal (or an administrator, or the registry) manages a principal's delegations; someone
    acting under a delegation never does (no re-delegation)."""
    if actor.acting_for is not None:
        raise errors.RedelegationForbidden(f"{actor.name} acts for {actor.acting_for}")
    if actor.admin or actor.account_id == principal_id:
        return
    if holds_delegation:
        raise errors.RedelegationForbidden(f"{actor.name} holds a delegation from {principal_id}")
    raise errors.NotThePrincipal(f"{actor.name} is not {principal_id}")


def decide_new(request: DelegationRequest, principal: Party, delegate: Party, actor: Actor, facts: Facts,
               now: datetime, settings: DelegationSettings, *, source: str | None = None) -> Decision:
    """Allow a new delegation (with its scopes, period and initial status) or refuse it naming the rule."""
    if request.kind not in KINDS:
        raise errors.UnknownKind(request.kind)
    source = source or ("admin" if actor.admin else "self")
    if source != "registry":
        check_actor(actor, principal.id, holds_delegation=facts.actor_holds_delegation)
    if principal.id == delegate.id:
        raise errors.SelfDelegation(principal.id)
    for party in (principal, delegate):
        if party.status != "active":
            raise errors.AccountInactive(f"{party.id} is {party.status}")
    if delegate.kind not in ACCOUNT_KINDS_FOR[request.kind]:
        raise errors.DelegateKindNotAllowed(f"a {delegate.kind} cannot be a {request.kind} delegate")
    zone = settings.zone()
    today = local_date(now, zone)
    age_end: datetime | None = None  # guardians: the age limit
    if request.kind == "assistant":
        if principal.kind != "professional" or facts.structures is None:
            raise errors.NotAProfessional(f"{principal.id} is a {principal.kind}, in directory: "
                                          f"{facts.structures is not None}")
        if not request.context:
            raise errors.ContextRequired()
        if request.context not in facts.structures:
            raise errors.StructureNotTheirs(f"{request.context} not among {sorted(facts.structures)}")
    elif request.kind == "proxy":
        if principal.kind != "citizen":
            raise errors.PrincipalNotCitizen(f"{principal.id} is a {principal.kind}")
    else:  # guardian
        if not facts.registry_link:
            raise errors.GuardianNeedsRegistryLink(f"no registry link {delegate.id} → {principal.id}")
        if principal.kind != "citizen" or principal.birthdate is None:
            raise errors.PrincipalNotCitizen(f"{principal.id} is a {principal.kind} without a birth date")
        if age_on(principal.birthdate, today) >= settings.age_limit:
            raise errors.GuardianAgeLimit(f"child is {age_on(principal.birthdate, today)}")
        age_end = guardian_end(principal.birthdate, settings, consents=False)
    scopes = check_requested_scopes(request.scopes, principal, delegate, settings)
    valid_from = max(request.valid_from or now, now)
    max_days = settings.max_days(request.kind)
    max_end = None if max_days is None else valid_from + timedelta(days=max_days)
    ends = [end for end in (age_end, max_end) if end is not None]
    if not ends:  # pragma: no cover - guardians always end at the age limit, the others have a maximum
        raise errors.InvalidPeriod("no end")
    valid_until = request.valid_until or min(ends)
    if age_end is not None and valid_until > age_end:
        raise errors.GuardianAgeLimit(f"asked until {valid_until.isoformat()}, age limit at {age_end.isoformat()}")
    if max_end is not None and valid_until > max_end:
        raise errors.DurationTooLong(f"asked until {valid_until.isoformat()}, at most {max_end.isoformat()}")
    if valid_until <= valid_from:
        raise errors.InvalidPeriod(f"{valid_from.isoformat()} → {valid_until.isoformat()}")
    # A proxy binds someone who has not agreed yet: it waits for the delegate. An administrator's or the
    # registry's is active at once; a professional's assistant works for them and needs no acceptance.
    status = "pending" if request.kind == "proxy" and source == "self" else "active"
    return Decision(scopes=scopes, valid_from=valid_from, valid_until=valid_until, status=status, source=source)


# --- at use -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StoredDelegation:
    """A stored delegation as the policy reads it (the service builds it from a row or a view)."""

    id: str
    principal_id: str
    delegate_id: str
    kind: str
    scopes: tuple[str, ...]
    context: str | None
    valid_from: datetime
    valid_until: datetime
    status: str
    expiry_reason: str | None = None
    teen_consent_at: datetime | None = None
    teen_consent_withdrawn_at: datetime | None = None


def check_act_depth(depth: int, settings: DelegationSettings) -> None:
    if depth > settings.max_act_depth:
        raise errors.ActChainTooDeep(f"depth {depth} > {settings.max_act_depth}")


def _refuse_state(delegation: StoredDelegation, at: datetime) -> None:
    status = delegation.status
    if status == "revoked":
        raise errors.DelegationRevoked(delegation.id)
    if status == "declined":
        raise errors.DelegationDeclined(delegation.id)
    if status == "pending":
        raise errors.DelegationPending(delegation.id)
    if status == "expired":
        rule = errors.RULES.get(delegation.expiry_reason or "", errors.DelegationExpired)
        raise rule(f"{delegation.id} expired: {delegation.expiry_reason}")
    if status != "active":
        raise errors.DelegationExpired(f"{delegation.id} is {status}")
    if at < delegation.valid_from:
        raise errors.DelegationNotYetValid(f"{delegation.id} starts {delegation.valid_from.isoformat()}")
    if at >= delegation.valid_until:
        raise errors.DelegationExpired(f"{delegation.id} ended {delegation.valid_until.isoformat()}")


def effective_rights(delegation: StoredDelegation, principal: Party, delegate: Party,
                     requested: frozenset[str] | None, at: datetime, settings: DelegationSettings, *,
                     act_depth: int = 1) -> EffectiveRights:
    """The delegate's rights for the principal at `at`: the principal's rights ∩ the delegation's scopes ∩ the
    delegate's own role ∩ the current catalogue ∩ (guardians) the child's age band ∩ `requested` (None: all).
    Refuses (typed) when the delegation does not authorise anything now. Checks the age limit itself, so a
    guardian delegation lapses at the birthday even if the lapse job never ran."""
    check_act_depth(act_depth, settings)
    if delegate.id != delegation.delegate_id or principal.id != delegation.principal_id:
        raise errors.NotTheDelegate(f"{delegate.id} for {principal.id} on {delegation.id}")
    _refuse_state(delegation, at)
    for party in (principal, delegate):
        if party.status != "active":
            raise errors.AccountInactive(f"{party.id} is {party.status}")
    until = delegation.valid_until
    band: frozenset[str] | None = None
    if delegation.kind == "guardian":
        if principal.birthdate is None:
            raise errors.GuardianAgeLimit(f"{principal.id} has no birth date")
        band = guardian_scopes(principal.birthdate, local_date(at, settings.zone()), settings,
                               consent_at=delegation.teen_consent_at,
                               withdrawn_at=delegation.teen_consent_withdrawn_at)
        consents = consent_holds(delegation.teen_consent_at, delegation.teen_consent_withdrawn_at)
        until = min(until, guardian_end(principal.birthdate, settings, consents=consents))
    delegated = frozenset(delegation.scopes)
    granted = frozenset(
        scope for scope in delegated
        if scope in settings.delegable_scopes and scope not in NEVER_DELEGABLE
        and role_allows(principal.kind, scope, settings) and role_allows(delegate.kind, scope, settings)
        and (band is None or scope in band)
    )
    asked = delegated if requested is None else frozenset(requested)
    scopes = granted & asked
    if not scopes:
        raise errors.NoScopeGranted(f"asked {sorted(asked)}, granted {sorted(granted)}")
    return EffectiveRights(delegation_id=delegation.id, principal_id=principal.id, delegate_id=delegate.id,
                           kind=delegation.kind, context=delegation.context, scopes=scopes,
                           withheld=asked - scopes, until=until)


def lapse_rule(delegation: StoredDelegation, principal: Party, now: datetime,
               settings: DelegationSettings) -> str | None:
    """Why an active or pending delegation has lapsed by `now` (the rule's name), or None while it holds."""
    if delegation.status not in ("active", "pending"):
        return None
    # A guardian's age rule first: it names why better than the end date it set (the age-limit birthday).
    if delegation.kind == "guardian" and principal.birthdate is not None:
        try:
            guardian_scopes(principal.birthdate, local_date(now, settings.zone()), settings,
                            consent_at=delegation.teen_consent_at, withdrawn_at=delegation.teen_consent_withdrawn_at)
        except errors.DelegationError as refusal:
            return refusal.rule
    if now >= delegation.valid_until:
        return errors.DelegationExpired.rule
    return None


# --- changes ------------------------------------------------------------------------------------------------

def check_change(action: str, delegation: StoredDelegation, actor: Actor) -> None:
    """May `actor` accept, decline, revoke or give up this delegation in its current state?

    - accept / decline: the delegate, while it is pending;
    - revoke: the principal or an administrator, while pending or active; a guardian delegation is ended by an
      administrator or the registry, the parent giving it up, or (where the rule exists) the teenager withdrawing
      consent, not by a child revoking it;
    - give up: the delegate, while pending or active.
    Nobody acting under a delegation manages delegations (no re-delegation).
    """
    if actor.acting_for is not None:
        raise errors.RedelegationForbidden(f"{actor.name} acts for {actor.acting_for}")
    if action in ("accept", "decline"):
        if actor.account_id != delegation.delegate_id:
            raise errors.NotTheDelegate(f"{actor.name} on {delegation.id}")
        if delegation.status != "pending":
            raise errors.DelegationNotActive(f"{delegation.id} is {delegation.status}")
        return
    if delegation.status not in ("pending", "active"):
        raise errors.DelegationNotActive(f"{delegation.id} is {delegation.status}")
    if action == "give_up":
        if actor.account_id != delegation.delegate_id:
            raise errors.NotTheDelegate(f"{actor.name} on {delegation.id}")
        return
    if action != "revoke":  # pragma: no cover - programming error
        raise ValueError(action)
    if actor.admin:
        return
    if actor.account_id != delegation.principal_id or delegation.kind == "guardian":
        raise errors.NotThePrincipal(f"{actor.name} on {delegation.id}")
