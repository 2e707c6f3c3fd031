"""DelegationService on SQLite and on PostgreSQL: creation rules, acceptance, revocation, the check, guardian
sync from the registry, lapse at the age limit, teenager consent, audit events and notifications."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from idp.delegation import errors
from idp.delegation.config import DelegationSettings
from idp.delegation.interfaces import Actor, DelegationRequest
from tests.unit.delegation.conftest import Rig

ADMIN = Actor.administrator("test")


async def test_assistant_by_a_professional_for_their_structure(rig: Rig) -> None:
    doc = await rig.professional("810001", "810001", ["S1", "S2"])
    sec = await rig.account("secretary", "staff")
    s = rig.service
    view = await s.create(DelegationRequest("assistant", doc, sec, ("mssante.read", "appointments.manage"),
                                            context="S1"), Actor.person(doc))
    assert view.status == "active" and view.context == "S1" and view.source == "self"
    rights = await s.check(view.id, sec, None, rig.clock.now)
    assert rights.scopes == {"mssante.read", "appointments.manage"}
    assert (await s.check(view.id, sec, frozenset({"mssante.read", "rpps"}), rig.clock.now)).scopes == {"mssante.read"}
    with pytest.raises(errors.StructureNotTheirs):
        await s.create(DelegationRequest("assistant", doc, sec, ("profile",), context="S9"), Actor.person(doc))
    with pytest.raises(errors.NotTheDelegate):
        await s.check(view.id, doc, None, rig.clock.now)
    with pytest.raises(errors.ActChainTooDeep):
        await s.check(view.id, sec, None, rig.clock.now, act_depth=3)
    refused = [e for e in await rig.events() if e.tag == "delegation:refused"]
    assert refused[0].detail["rule"] == "structure_not_theirs"
    created = next(e for e in await rig.events() if e.tag == "delegation:created")
    assert created.actor == doc and created.subject == doc
    assert created.detail.items() >= {"delegation_id": view.id, "principal": doc, "delegate": sec,
                                      "kind": "assistant", "scopes": ["appointments.manage", "mssante.read"]}.items()


async def test_a_citizen_cannot_delegate_as_an_assistant_principal(rig: Rig) -> None:
    alice, sec = await rig.account("alice"), await rig.account("sec", "staff")
    with pytest.raises(errors.NotAProfessional):
        await rig.service.create(DelegationRequest("assistant", alice, sec, ("profile",), context="S1"), ADMIN)


async def test_proxy_waits_for_acceptance_and_notifies(rig: Rig) -> None:
    alice, bob = await rig.account("alice"), await rig.account("bob")
    s = rig.service
    view = await s.create(DelegationRequest("proxy", alice, bob, ("dmp.read", "profile")), Actor.person(alice))
    assert view.status == "pending"
    with pytest.raises(errors.DelegationPending):
        await s.check(view.id, bob, None, rig.clock.now)
    assert [n.event for n in await s.notifications(bob)] == ["delegation:invited"]
    with pytest.raises(errors.NotTheDelegate):
        await s.accept(view.id, Actor.person(alice))
    accepted = await s.accept(view.id, Actor.person(bob))
    assert accepted.status == "active" and accepted.responded_at == rig.clock.now
    assert (await s.check(view.id, bob, None, rig.clock.now)).scopes == {"dmp.read", "profile"}
    assert [v.id for v in await s.active_for(bob, rig.clock.now)] == [view.id]
    # Bob cannot pass it on, nor manage Alice's delegations.
    carol = await rig.account("carol")
    with pytest.raises(errors.RedelegationForbidden):
        await s.create(DelegationRequest("proxy", alice, carol, ("profile",)), Actor.person(bob))
    with pytest.raises(errors.RedelegationForbidden):
        await s.create(DelegationRequest("proxy", alice, carol, ("profile",)), Actor.person(alice, acting_for=alice))
    revoked = await s.revoke(view.id, Actor.person(alice), "no longer needed")
    assert revoked.status == "revoked" and revoked.revoked_by == alice
    with pytest.raises(errors.DelegationRevoked):
        await s.check(view.id, bob, None, rig.clock.now)
    tags = [e.tag for e in await rig.events()]
    assert tags.count("delegation:created") == 1 and "delegation:accepted" in tags and "delegation:revoked" in tags


async def test_admin_created_is_active_and_notifies_the_principal(rig: Rig) -> None:
    alice, bob = await rig.account("alice"), await rig.account("bob")
    view = await rig.service.create(DelegationRequest("proxy", alice, bob, ("profile",)), ADMIN)
    assert view.status == "active"
    notes = await rig.service.notifications(alice)
    assert [n.event for n in notes] == ["delegation:created"] and "Bob" in notes[0].message
    declined = await rig.service.create(DelegationRequest("proxy", bob, alice, ("profile",)), Actor.person(bob))
    assert (await rig.service.decline(declined.id, Actor.person(alice))).status == "declined"
    given_up = await rig.service.give_up(view.id, Actor.person(bob))
    assert given_up.status == "revoked" and given_up.revocation_reason == "give_up"
    assert {v.status for v in await rig.service.given(alice)} == {"revoked"}


async def test_lapse_job_and_check_at_use(rig: Rig) -> None:
    alice, bob = await rig.account("alice"), await rig.account("bob")
    view = await rig.service.create(DelegationRequest(
        "proxy", alice, bob, ("profile",), valid_until=rig.clock.now + timedelta(days=2)), ADMIN)
    later = rig.clock.now + timedelta(days=3)
    with pytest.raises(errors.DelegationExpired):  # before the job ran
        await rig.service.check(view.id, bob, None, later)
    assert await rig.service.lapse_expired(later) == 1
    assert (await rig.service.get(view.id)).status == "expired"
    assert await rig.service.lapse_expired(later) == 0


async def test_guardian_sync_creates_a_managed_child_account_and_revokes_when_the_link_disappears(rig: Rig) -> None:
    parent = await rig.account("1800175000000", national_id="1800175000000")
    await rig.registry_child("2150375000000", date(2015, 3, 1), "1800175000000")
    await rig.registry_child("2000375000000", date(2000, 3, 1), "1800175000000")  # an adult: no delegation
    summary = await rig.service.sync_guardians()
    assert (summary.created, summary.managed_accounts) == (1, 1)
    assert (await rig.service.sync_guardians()).created == 0  # idempotent
    [view] = await rig.service.received(parent)
    assert view.kind == "guardian" and view.source == "registry" and view.status == "active"
    child = await rig.service.account_id("2150375000000")
    assert view.principal_id == child
    assert (await rig.service.check(view.id, parent, None, rig.clock.now)).scopes == set(rig.settings.delegable_scopes)
    from sqlalchemy import delete

    from idp.enrollment.models import RegistryLink
    async with rig.db.transaction() as session:
        await session.execute(delete(RegistryLink))
    assert await rig.service.revoke_unlinked_guardians() == 1
    revoked = await rig.service.get(view.id)
    assert revoked.status == "revoked" and revoked.revocation_reason == "registry_link_removed"


async def test_quebec_guardian_lapses_at_14_and_the_teenager_consents_then_withdraws(rig: Rig) -> None:
    qc = Rig(rig.db, DelegationSettings.for_jurisdiction("qc"))
    parent = await qc.account("MART80010112", national_id="MART80010112")
    await qc.registry_child("MART12061512", date(2012, 6, 15), "MART80010112")
    qc.clock.now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    await qc.service.sync_guardians()
    [view] = await qc.service.received(parent)
    teen = view.principal_id
    assert (await qc.service.check(view.id, parent, None, datetime(2026, 6, 14, 12, tzinfo=UTC))).scopes == {
        "openid", "profile", "appointments.manage"}
    birthday = datetime(2026, 6, 15, 12, tzinfo=UTC)
    with pytest.raises(errors.DelegationExpired):  # valid_until was the 14th birthday
        await qc.service.check(view.id, parent, None, birthday)
    assert await qc.service.lapse_expired(birthday) == 1
    lapsed = await qc.service.get(view.id)
    assert lapsed.status == "expired" and lapsed.expiry_reason == "teen_consent_required"
    with pytest.raises(errors.TeenConsentRequired):
        await qc.service.check(view.id, parent, None, birthday)
    qc.clock.now = birthday + timedelta(days=1)
    with pytest.raises(errors.NotThePrincipal):
        await qc.service.consent(view.id, Actor.person(parent))
    consented = await qc.service.consent(view.id, Actor.person(teen))
    assert consented.status == "active" and consented.teen_consents
    assert consented.valid_until.astimezone(UTC) == datetime(2030, 6, 15, 4, tzinfo=UTC)
    assert await qc.service.check(view.id, parent, None, qc.clock.now)
    qc.clock.now += timedelta(days=30)
    withdrawn = await qc.service.withdraw_consent(view.id, Actor.person(teen))
    assert withdrawn.status == "expired" and withdrawn.expiry_reason == "teen_consent_withdrawn"
    with pytest.raises(errors.TeenConsentWithdrawn):
        await qc.service.check(view.id, parent, None, qc.clock.now)
    tags = [e.tag for e in await qc.events()]
    assert {"delegation:expired", "delegation:consented", "delegation:consent_withdrawn"} <= set(tags)


async def test_france_guardian_cannot_be_created_by_hand_without_the_registry_link(rig: Rig) -> None:
    kid = await rig.account("kid", birthdate=date(2016, 1, 1), national_id="2160175000000", password=False)
    parent = await rig.account("parent", national_id="1800175000000")
    with pytest.raises(errors.GuardianNeedsRegistryLink):
        await rig.service.create(DelegationRequest("guardian", kid, parent, ("profile",)), ADMIN)


async def test_the_periodic_job_creates_guardians_once_the_parent_has_an_account_and_lapses(rig: Rig) -> None:
    await rig.registry_child("2160375000000", date(2016, 3, 1), "1810175000000")
    assert (await rig.service.run_job())["guardians_created"] == 0  # the parent has no account yet
    parent = await rig.account("1810175000000", national_id="1810175000000")
    first = await rig.service.run_job()
    assert first == {"guardians_created": 1, "guardians_revoked": 0, "lapsed": 0}
    [view] = await rig.service.received(parent)
    rig.clock.now = view.valid_until  # the 18th birthday (France): the job marks it expired
    assert (await rig.service.run_job())["lapsed"] == 1
    assert (await rig.service.get(view.id)).status == "expired"
