"""Properties of the pure policy, over generated delegations, accounts, dates and requests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.delegation import errors, policy
from idp.delegation.config import DelegationSettings
from idp.delegation.interfaces import Party

JURISDICTIONS = {"qc": DelegationSettings.for_jurisdiction("qc"), "fr": DelegationSettings.for_jurisdiction("fr")}
UNIVERSE = ["openid", "profile", "mssante.read", "mssante.send", "appointments.manage", "dmp.read",
            "prescription.sign", "scope_all", "rpps", "identity", "email", "made.up"]
KINDS = ["citizen", "professional", "staff", "operator"]

scope_sets = st.frozensets(st.sampled_from(UNIVERSE), max_size=len(UNIVERSE))
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC))
births = st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 1, 1))
jurisdictions = st.sampled_from(sorted(JURISDICTIONS))


def stored(kind: str, scopes: frozenset[str], status: str, start: datetime, days: int,
           consent_at: datetime | None = None, withdrawn_at: datetime | None = None) -> policy.StoredDelegation:
    return policy.StoredDelegation(
        id="d", principal_id="p", delegate_id="x", kind=kind, scopes=tuple(sorted(scopes)), context=None,
        valid_from=start, valid_until=start + timedelta(days=days), status=status,
        teen_consent_at=consent_at, teen_consent_withdrawn_at=withdrawn_at)


@settings(max_examples=400, deadline=None)
@given(jurisdiction=jurisdictions, kind=st.sampled_from(["assistant", "proxy", "guardian"]),
       principal_kind=st.sampled_from(KINDS), delegate_kind=st.sampled_from(KINDS), delegated=scope_sets,
       requested=st.none() | scope_sets, start=instants, days=st.integers(1, 4000),
       offset=st.integers(0, 4000 * 24), born=births)
def test_a_delegate_never_gets_a_scope_the_principal_lacks(
        jurisdiction: str, kind: str, principal_kind: str, delegate_kind: str, delegated: frozenset[str],
        requested: frozenset[str] | None, start: datetime, days: int, offset: int, born: date) -> None:
    config = JURISDICTIONS[jurisdiction]
    at = start + timedelta(hours=offset)
    principal = Party("p", principal_kind, birthdate=born)
    try:
        rights = policy.effective_rights(stored(kind, delegated, "active", start, days), principal,
                                         Party("x", delegate_kind), requested, at, config)
    except errors.DelegationError:
        return
    for scope in rights.scopes:
        assert policy.role_allows(principal_kind, scope, config)  # the principal holds it
        assert policy.role_allows(delegate_kind, scope, config)  # the delegate's role allows it
        assert scope in delegated and scope in config.delegable_scopes
        assert requested is None or scope in requested
        assert scope != "prescription.sign"
    assert start <= at < rights.until <= start + timedelta(days=days)


@settings(max_examples=300, deadline=None)
@given(jurisdiction=jurisdictions, status=st.sampled_from(["revoked", "expired", "declined", "pending"]),
       delegated=scope_sets, start=instants, days=st.integers(1, 4000), offset=st.integers(-1000, 4000 * 24),
       kind=st.sampled_from(["assistant", "proxy", "guardian"]), born=births)
def test_an_expired_revoked_declined_or_pending_delegation_authorises_nothing(
        jurisdiction: str, status: str, delegated: frozenset[str], start: datetime, days: int, offset: int,
        kind: str, born: date) -> None:
    with pytest.raises(errors.DelegationError):
        policy.effective_rights(stored(kind, delegated, status, start, days), Party("p", "citizen", birthdate=born),
                                Party("x", "citizen"), None, start + timedelta(hours=offset),
                                JURISDICTIONS[jurisdiction])


@settings(max_examples=300, deadline=None)
@given(jurisdiction=jurisdictions, delegated=scope_sets, start=instants, days=st.integers(1, 4000),
       after=st.integers(1, 4000 * 24), kind=st.sampled_from(["assistant", "proxy", "guardian"]))
def test_an_active_delegation_past_its_end_authorises_nothing(
        jurisdiction: str, delegated: frozenset[str], start: datetime, days: int, after: int, kind: str) -> None:
    delegation = stored(kind, delegated, "active", start, days)
    with pytest.raises(errors.DelegationError):
        policy.effective_rights(delegation, Party("p", "citizen", birthdate=date(2020, 1, 1)), Party("x", "citizen"),
                                None, delegation.valid_until + timedelta(hours=after - 1),
                                JURISDICTIONS[jurisdiction])


@settings(max_examples=400, deadline=None)
@given(jurisdiction=jurisdictions, born=births, at=instants, consent=st.none() | instants,
       withdrawn=st.none() | instants)
def test_a_guardian_never_outlives_the_age_limit_without_consent(
        jurisdiction: str, born: date, at: datetime, consent: datetime | None, withdrawn: datetime | None) -> None:
    config = JURISDICTIONS[jurisdiction]
    delegation = stored("guardian", frozenset(config.delegable_scopes), "active", datetime(1990, 1, 1, tzinfo=UTC),
                        365 * 80, consent, withdrawn)
    child = Party("p", "citizen", birthdate=born)
    today = policy.local_date(at, config.zone())
    consents = consent is not None and (withdrawn is None or withdrawn < consent)
    try:
        rights = policy.effective_rights(delegation, child, Party("x", "citizen"), None, at, config)
    except errors.DelegationError:
        return
    age = policy.age_on(born, today)
    assert age < config.age_limit or (config.consent_rule and consents and age < config.guardian_consent_until_age)
    assert at < rights.until <= policy.guardian_end(born, config, consents=consents)
    assert policy.lapse_rule(delegation, child, at, config) is None
