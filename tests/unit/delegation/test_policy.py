"""The pure policy on the guardian edge cases of Québec and France, ages, scopes and creation rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from idp.delegation import errors, policy
from idp.delegation.config import DelegationSettings
from idp.delegation.interfaces import Actor, DelegationRequest, Party
from idp.errors import ConfigurationError, MandatError
from idp.oidc.delegated import act_depth

QC = DelegationSettings.for_jurisdiction("qc")
FR = DelegationSettings.for_jurisdiction("fr")
LIMITED = frozenset({"openid", "profile", "appointments.manage"})
CONSENT = datetime(2026, 6, 20, tzinfo=UTC)


def scopes(born: date, today: date, settings: DelegationSettings, **consent: datetime | None) -> frozenset[str] | None:
    return policy.guardian_scopes(born, today, settings, **consent)


# --- ages ---------------------------------------------------------------------------------------------------

def test_age_on_the_day_before_and_on_the_birthday() -> None:
    born = date(2012, 6, 15)
    assert policy.age_on(born, date(2026, 6, 14)) == 13
    assert policy.age_on(born, date(2026, 6, 15)) == 14


def test_born_on_29_february_has_their_birthday_on_1_march_in_a_common_year() -> None:
    born = date(2012, 2, 29)
    assert policy.age_on(born, date(2026, 2, 28)) == 13
    assert policy.age_on(born, date(2026, 3, 1)) == 14
    assert policy.birthday(born, 14) == date(2026, 3, 1)
    assert policy.birthday(born, 16) == date(2028, 2, 29)  # a leap year: the day itself
    assert policy.age_on(born, date(2028, 2, 29)) == 16


# --- Québec: 14, then only with the teenager's consent, until 18 ---------------------------------------------

def test_quebec_the_day_before_the_14th_birthday_the_parent_still_acts() -> None:
    assert scopes(date(2012, 6, 15), date(2026, 6, 14), QC) == LIMITED  # the band from 12


def test_quebec_on_the_14th_birthday_the_parent_needs_the_teenagers_consent() -> None:
    with pytest.raises(errors.TeenConsentRequired) as refusal:
        scopes(date(2012, 6, 15), date(2026, 6, 15), QC)
    assert refusal.value.rule == "teen_consent_required"
    assert isinstance(refusal.value, MandatError) and refusal.value.public


def test_quebec_consent_lets_access_continue_then_withdrawal_ends_it_and_a_new_consent_restores_it() -> None:
    born, today = date(2012, 6, 15), date(2026, 7, 1)
    assert scopes(born, today, QC, consent_at=CONSENT) == LIMITED
    withdrawn = CONSENT + timedelta(days=5)
    with pytest.raises(errors.TeenConsentWithdrawn):
        scopes(born, today, QC, consent_at=CONSENT, withdrawn_at=withdrawn)
    assert scopes(born, today, QC, consent_at=withdrawn + timedelta(days=1), withdrawn_at=withdrawn) == LIMITED


def test_quebec_consent_ends_at_18_anyway() -> None:
    with pytest.raises(errors.GuardianAgeLimit):
        scopes(date(2008, 6, 15), date(2026, 6, 15), QC, consent_at=CONSENT)


def test_quebec_born_29_february_lapses_on_1_march_of_a_common_year() -> None:
    born = date(2012, 2, 29)
    assert scopes(born, date(2026, 2, 28), QC) == LIMITED
    with pytest.raises(errors.TeenConsentRequired):
        scopes(born, date(2026, 3, 1), QC)


def test_quebec_the_limit_falls_at_local_midnight_not_utc() -> None:
    born = date(2012, 6, 15)
    end = policy.guardian_end(born, QC, consents=False)
    assert end.astimezone(UTC) == datetime(2026, 6, 15, 4, 0, tzinfo=UTC)  # EDT is UTC-4
    stored = _guardian(born, QC)
    child = Party("child", "citizen", birthdate=born)
    assert policy.effective_rights(stored, child, Party("parent", "citizen"), None,
                                   datetime(2026, 6, 15, 3, 59, tzinfo=UTC), QC).scopes == LIMITED
    with pytest.raises(errors.TeenConsentRequired):
        policy.effective_rights(stored, child, Party("parent", "citizen"), None,
                                datetime(2026, 6, 15, 4, 0, tzinfo=UTC), QC)


# --- France: 18, no consent rule -----------------------------------------------------------------------------

def test_france_the_day_before_the_18th_birthday_and_the_birthday() -> None:
    born = date(2008, 6, 15)
    assert scopes(born, date(2026, 6, 14), FR) == LIMITED
    with pytest.raises(errors.GuardianAgeLimit):
        scopes(born, date(2026, 6, 15), FR)
    with pytest.raises(errors.GuardianAgeLimit):  # consent changes nothing in France
        scopes(born, date(2026, 6, 15), FR, consent_at=CONSENT)


def test_france_young_child_band_gives_everything_delegated() -> None:
    assert scopes(date(2020, 1, 1), date(2026, 6, 15), FR) is None


def test_france_born_29_february_turns_18_on_1_march() -> None:
    born = date(2008, 2, 29)
    assert scopes(born, date(2026, 2, 28), FR) == LIMITED
    with pytest.raises(errors.GuardianAgeLimit):
        scopes(born, date(2026, 3, 1), FR)


def test_age_limit_and_bands_are_configurable() -> None:
    settings = DelegationSettings.for_jurisdiction("fr", MANDAT_DELEGATION_GUARDIAN_AGE_LIMIT="16",
                                                   MANDAT_DELEGATION_GUARDIAN_AGE_BANDS="0=*;10=profile")
    assert scopes(date(2014, 6, 15), date(2026, 6, 15), settings) == frozenset({"profile"})
    with pytest.raises(errors.GuardianAgeLimit):
        scopes(date(2010, 6, 15), date(2026, 6, 15), settings)


# --- settings -----------------------------------------------------------------------------------------------

def test_prescription_sign_is_never_delegable_whatever_the_config() -> None:
    with pytest.raises(ConfigurationError, match="MANDAT_DELEGATION_SCOPES"):
        DelegationSettings.for_jurisdiction("fr", MANDAT_DELEGATION_SCOPES="profile,prescription.sign")
    hand_built = DelegationSettings(delegable_scopes=("profile", "prescription.sign"))
    with pytest.raises(errors.ScopeNotDelegable):
        policy.check_requested_scopes(["prescription.sign"], Party("p", "professional"), Party("d", "professional"),
                                      hand_built)


def test_jurisdiction_defaults() -> None:
    assert (QC.age_limit, QC.consent_rule, FR.age_limit, FR.consent_rule) == (14, True, 18, False)
    with pytest.raises(ConfigurationError, match="MANDAT_JURISDICTION"):
        DelegationSettings.for_jurisdiction("be")


# --- creation -----------------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
DOCTOR = Party("doc", "professional")
SECRETARY = Party("sec", "staff")
ALICE, BOB = Party("alice", "citizen"), Party("bob", "citizen")


def decide(kind: str, principal: Party, delegate: Party, actor: Actor | None = None,
           facts: policy.Facts | None = None, scopes: tuple[str, ...] = ("profile",), **kwargs: object
           ) -> policy.Decision:
    request = DelegationRequest(kind=kind, principal_id=principal.id, delegate_id=delegate.id, scopes=scopes,
                                **kwargs)  # type: ignore[arg-type]
    return policy.decide_new(request, principal, delegate, actor or Actor.person(principal.id),
                             facts or policy.Facts(), NOW, FR)


@pytest.mark.parametrize(("call", "rule"), [
    (lambda: decide("assistant", DOCTOR, SECRETARY, facts=policy.Facts(structures=None), context="S1"),
     "not_a_professional"),
    (lambda: decide("assistant", ALICE, SECRETARY, facts=policy.Facts(structures=frozenset({"S1"})),
                    context="S1"), "not_a_professional"),
    (lambda: decide("assistant", DOCTOR, SECRETARY, facts=policy.Facts(structures=frozenset({"S1"})),
                    context="S2"), "structure_not_theirs"),
    (lambda: decide("assistant", DOCTOR, SECRETARY, facts=policy.Facts(structures=frozenset({"S1"}))),
     "context_required"),
    (lambda: decide("assistant", DOCTOR, DOCTOR, facts=policy.Facts(structures=frozenset({"S1"})),
                    context="S1"), "self_delegation"),
    (lambda: decide("assistant", DOCTOR, Party("doc2", "professional"),
                    facts=policy.Facts(structures=frozenset({"S1"})), context="S1"), "delegate_kind_not_allowed"),
    (lambda: decide("assistant", DOCTOR, SECRETARY, facts=policy.Facts(structures=frozenset({"S1"})),
                    context="S1", scopes=("scope_all",)), "scope_reserved_to_professionals"),
    (lambda: decide("assistant", DOCTOR, SECRETARY, facts=policy.Facts(structures=frozenset({"S1"})),
                    context="S1", scopes=("prescription.sign",)), "scope_not_delegable"),
    (lambda: decide("proxy", ALICE, BOB, scopes=("unknown.scope",)), "scope_not_delegable"),
    (lambda: decide("proxy", ALICE, BOB, scopes=()), "scope_missing"),
    (lambda: decide("proxy", SECRETARY, BOB), "principal_not_citizen"),
    (lambda: decide("proxy", ALICE, BOB, actor=Actor.person("bob")), "not_the_principal"),
    (lambda: decide("proxy", ALICE, BOB, actor=Actor.person("bob"),
                    facts=policy.Facts(actor_holds_delegation=True)), "redelegation_forbidden"),
    (lambda: decide("proxy", ALICE, BOB, actor=Actor.person("alice", acting_for="carol")),
     "redelegation_forbidden"),
    (lambda: decide("proxy", ALICE, BOB, valid_until=NOW + timedelta(days=2000)), "duration_too_long"),
    (lambda: decide("proxy", ALICE, BOB, valid_until=NOW - timedelta(days=1)), "invalid_period"),
    (lambda: decide("guardian", Party("kid", "citizen", birthdate=date(2015, 1, 1)), BOB,
                    actor=Actor.administrator()), "guardian_needs_registry_link"),
    (lambda: decide("guardian", Party("kid", "citizen", birthdate=date(2008, 3, 10)), BOB,
                    actor=Actor.administrator(), facts=policy.Facts(registry_link=True)), "guardian_age_limit"),
    (lambda: decide("power_of_attorney", ALICE, BOB), "unknown_kind"),
    (lambda: decide("proxy", ALICE, Party("bob", "citizen", status="disabled")), "account_inactive"),
])
def test_creation_refusals_name_their_rule(call: object, rule: str) -> None:
    with pytest.raises(errors.DelegationError) as refusal:
        call()  # type: ignore[operator]
    assert refusal.value.rule == rule == refusal.value.code
    assert refusal.value.public.endswith(".")


def test_self_service_proxy_waits_for_the_delegate_admin_ones_do_not() -> None:
    assert decide("proxy", ALICE, BOB).status == "pending"
    assert decide("proxy", ALICE, BOB, actor=Actor.administrator()).status == "active"
    decision = decide("assistant", DOCTOR, SECRETARY, facts=policy.Facts(structures=frozenset({"S1"})),
                      context="S1", scopes=("mssante.read", "profile"))
    assert decision.status == "active" and decision.valid_until == NOW + timedelta(days=365)


def test_guardian_ends_at_the_age_limit() -> None:
    kid = Party("kid", "citizen", birthdate=date(2015, 1, 1))
    decision = decide("guardian", kid, BOB, actor=Actor.administrator(), facts=policy.Facts(registry_link=True))
    assert decision.valid_until == policy.guardian_end(kid.birthdate or date.min, FR, consents=False)
    assert decision.valid_until.astimezone(UTC) == datetime(2032, 12, 31, 23, 0, tzinfo=UTC)  # Paris, winter


def test_act_chain_depth() -> None:
    assert act_depth({}) == 0
    assert act_depth({"act": {"sub": "a"}}) == 1
    assert act_depth({"act": {"sub": "a", "act": {"sub": "b"}}}) == 2
    policy.check_act_depth(2, FR)
    with pytest.raises(errors.ActChainTooDeep):
        policy.check_act_depth(3, FR)


def _guardian(born: date, settings: DelegationSettings) -> policy.StoredDelegation:
    return policy.StoredDelegation(
        id="g", principal_id="child", delegate_id="parent", kind="guardian",
        scopes=tuple(settings.delegable_scopes), context=None, valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        valid_until=policy.guardian_end(born, settings, consents=True), status="active")
