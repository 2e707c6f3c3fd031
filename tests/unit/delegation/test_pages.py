"""The self-service delegation pages over HTTP, against `create_app` on both backends: every page, every form's
CSRF and 303, every refusal's exact sentence, no account enumeration on invitations, nothing changed by a refused
form. People sign in through /account/login like a browser does; their data is made through the services."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from idp.accounts.models import Account
from idp.app import create_app
from idp.audit import AuditEvent
from idp.cards.models import Professional, ProfessionalActivity, ProfessionalExercise
from idp.delegation import errors
from idp.delegation.config import DelegationSettings
from idp.delegation.interfaces import Actor, DelegationRequest
from idp.delegation.models import Delegation
from idp.delegation.service import DelegationService
from idp.enrollment.models import RegistryLink, RegistryRecord
from idp.oidc.sessions import Acting, load_session, set_acting
from tests.conftest import ISSUER, PASSWORD, Env, form_field, make_settings

ADMIN = Actor.administrator("test")
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Browser:
    """One person's browser: their own cookies, their language."""

    def __init__(self, env: Env, lang: str) -> None:
        self.env = env
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=env.app, client=("203.0.113.9", 40000)),
                                      base_url=ISSUER, follow_redirects=False,
                                      headers={"accept-language": lang})

    async def sign_in(self, username: str, next_page: str = "/account/delegations") -> None:
        page = await self.http.get("/account/login", params={"next": next_page})
        response = await self.http.post("/account/login", data={
            "csrf_token": form_field(page.text, "csrf_token"), "username": username, "password": PASSWORD,
            "next": next_page})
        assert response.status_code == 303, response.text
        assert response.headers["location"] == next_page

    async def csrf(self, path: str = "/account") -> str:
        """The CSRF token of this browser's session (the same on every page: /account always has a form)."""
        page = await self.http.get(path)
        assert page.status_code in (200, 400, 403, 404, 409), page.text
        return form_field(page.text, "csrf_token")

    async def post(self, path: str, data: dict[str, Any] | None = None, *, page: str = "/account") -> httpx.Response:
        return await self.http.post(path, data={"csrf_token": await self.csrf(page), **(data or {})})

    async def session_token(self) -> str:
        token = self.http.cookies.get("mandat_session")
        assert token
        return token


class Rig:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.container = env.container
        self.clock = Clock()
        self.browsers: list[Browser] = []
        self.use(DelegationSettings.for_jurisdiction("fr"))

    def use(self, settings: DelegationSettings) -> DelegationService:
        """The pages' service, on these settings and the test clock."""
        self.service = DelegationService(self.container.db, self.container.store, self.container.audit, settings,
                                         self.clock)
        self.container.provide(self.service)
        return self.service

    def browser(self, lang: str = "en") -> Browser:
        browser = Browser(self.env, lang)
        self.browsers.append(browser)
        return browser

    async def person(self, username: str, given: str, family: str, *, kind: str = "citizen",
                     lang: str = "en", birthdate: date | None = None, national_id: str | None = None) -> Browser:
        await self.account(username, given, family, kind=kind, birthdate=birthdate, national_id=national_id)
        browser = self.browser(lang)
        await browser.sign_in(username)
        return browser

    async def account(self, username: str, given: str, family: str, *, kind: str = "citizen",
                      birthdate: date | None = None, national_id: str | None = None, password: str | None = PASSWORD
                      ) -> str:
        account = await self.container.accounts.create(username=username, password=password, kind=kind,
                                                       given_name=given, family_name=family, birthdate=birthdate,
                                                       national_id=national_id)
        return account.id

    async def id_of(self, username: str) -> str:
        return await self.service.account_id(username)

    async def directory(self, national_id: str, sites: list[tuple[str, str, str, str]]) -> None:
        """A professional in the directory, practising at `sites` (structure id, sign, postal code, town)."""
        async with self.container.db.transaction() as session:
            session.add(Professional(national_id=national_id, id_type="8", rpps=national_id[1:]))
            await session.flush()
            exercise = ProfessionalExercise(national_id=national_id, code_profession="10")
            session.add(exercise)
            await session.flush()
            for position, (structure, sign, postal, town) in enumerate(sites):
                session.add(ProfessionalActivity(exercise_id=exercise.id, position=position,
                                                 identifiant_technique_structure=structure,
                                                 enseigne_commerciale_site=sign, code_postal=postal,
                                                 bureau_cedex=f"{postal} {town}"))

    async def rows(self) -> int:
        async with self.container.db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(Delegation)) or 0)

    async def audit_tags(self, prefix: str = "delegation:") -> list[str]:
        await self.container.audit.flush()
        async with self.container.db.session() as session:
            return list(await session.scalars(select(AuditEvent.tag).where(AuditEvent.tag.startswith(prefix))
                                              .order_by(AuditEvent.id)))

    async def close(self) -> None:
        for browser in self.browsers:
            await browser.http.aclose()


@pytest.fixture
async def rig(env: Env) -> AsyncIterator[Rig]:
    value = Rig(env)
    yield value
    await value.close()


def alert(html: str) -> str:
    """The text of the page's refusal (role=alert), tags stripped."""
    match = re.search(r'<div class="notice notice-error" role="alert" id="problem"[^>]*>(.*?)</div>', html, re.S)
    assert match, html
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1)))).strip()


def status_note(html: str) -> str:
    match = re.search(r'role="status" id="done"><p>(.*?)</p>', html, re.S)
    assert match, html
    return unescape(match.group(1))


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


INVITE = {"username": "bob", "scope": ["profile", "appointments.manage"], "until": ""}
NO_SUCH_INVITEE = ("We could not send this invitation. Check the username with the person: they need their own "
                   "Mandat account as a citizen, and it must be open.")
ACTING = ("You are acting for Alice Martin right now, and nobody can give or change access while acting for someone "
          "else. Choose “Back to myself” at the top of the page, then try again.")


async def invite(browser: Browser, **overrides: Any) -> httpx.Response:
    return await browser.post("/account/delegations/proxy", {**INVITE, **overrides},
                               page="/account/delegations/proxy")


# --- signing in ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/account/delegations", "/account/delegations/proxy",
                                  "/account/delegations/assistant", "/account/delegations/history",
                                  "/account/delegations/" + "a" * 32 + "/revoke"])
async def test_every_page_asks_to_sign_in_first(rig: Rig, path: str) -> None:
    response = await rig.browser().http.get(path)
    assert response.status_code == 303
    expected = path if "/revoke" not in path else "/account/delegations"
    assert response.headers["location"] == f"/account/login?next={expected}"


async def test_a_form_without_its_csrf_token_changes_nothing(rig: Rig) -> None:
    alice = await rig.person("alice", "Alice", "Martin")
    await rig.account("bob", "Bob", "Durand")
    response = await alice.http.post("/account/delegations/proxy", data=INVITE)
    assert response.status_code == 403
    assert "The form expired" in response.text
    forged = await alice.http.post("/account/delegations/proxy", data={**INVITE, "csrf_token": "x" * 40})
    assert forged.status_code == 403
    assert await rig.rows() == 0


# --- a citizen and their proxy ---------------------------------------------------------------------------------------

async def test_invite_accept_then_revoke(rig: Rig) -> None:
    alice = await rig.person("alice", "Alice", "Martin")
    bob = await rig.person("bob", "Bob", "Durand", lang="fr")
    form = await alice.http.get("/account/delegations/proxy")
    assert form.status_code == 200
    # The boxes are the catalogue a citizen may hold, never a professional's or prescription.sign; openid is implied.
    assert re.findall(r'name="scope" value="([^"]+)"', form.text) == [
        "profile", "mssante.read", "mssante.send", "appointments.manage", "dmp.read"]
    assert 'value="2029-03-08"' in form.text  # 1095 days from noon on 10 March 2026 end on 9 March: the 8th closes

    response = await invite(alice)
    assert response.status_code == 303 and response.headers["location"] == "/account/delegations?done=invited"
    [view] = await rig.service.given(await rig.id_of("alice"))
    assert view.status == "pending" and view.scopes == ("appointments.manage", "openid", "profile")
    page = (await alice.http.get(response.headers["location"])).text
    assert status_note(page) == ("Your invitation was sent. The person will see it when they sign in to Mandat, and "
                                 "must accept it before they can act for you.")
    # While it waits, the list shows the username that was typed, never the person's name.
    assert "Bob Durand" not in page and "<h3>bob</h3>" in page and "Waiting for an answer" in page

    overview = (await bob.http.get("/account/delegations")).text
    assert "<h3>Alice Martin vous demande d’agir pour son compte</h3>" in overview
    assert "Alice Martin vous demande d’agir pour son compte. Répondez à l’invitation sur cette page." in overview
    accepted = await bob.post(f"/account/delegations/{view.id}/accept")
    assert accepted.status_code == 303 and accepted.headers["location"] == "/account/delegations?done=accepted"
    assert (await rig.service.get(view.id)).status == "active"
    overview = (await bob.http.get("/account/delegations?done=accepted")).text
    assert status_note(overview) == ("Vous avez accepté. Pour agir pour cette personne, connectez-vous à un service "
                                     "de santé et choisissez son nom.")
    received = overview[overview.index('id="received-title"'):overview.index('id="history-title"')]
    assert "<h3>Alice Martin</h3>" in received

    page = (await alice.http.get("/account/delegations")).text
    assert "<h3>Bob Durand</h3>" in page and "In force" in page
    confirm = await alice.http.get(f"/account/delegations/{view.id}/revoke")
    assert confirm.status_code == 200
    assert "<h1>Stop Bob Durand's access?</h1>" in unescape(confirm.text)
    revoked = await alice.post(f"/account/delegations/{view.id}/revoke", page=f"/account/delegations/{view.id}/revoke")
    assert revoked.status_code == 303 and revoked.headers["location"] == "/account/delegations?done=revoked"
    assert (await rig.service.get(view.id)).status == "revoked"
    page = (await alice.http.get("/account/delegations?done=revoked")).text
    assert status_note(page) == "Done: this person can no longer act for you."
    assert "Ended delegations (1)" in page
    assert await rig.audit_tags() == ["delegation:created", "delegation:accepted", "delegation:revoked"]


async def test_the_proxy_declines(rig: Rig) -> None:
    alice = await rig.person("alice", "Alice", "Martin")
    bob = await rig.person("bob", "Bob", "Durand")
    assert (await invite(alice)).status_code == 303
    [view] = await rig.service.given(await rig.id_of("alice"))
    # The principal cannot answer their own invitation; the invitee can, once.
    refused = await alice.post(f"/account/delegations/{view.id}/accept")
    assert refused.status_code == 403
    assert alert(refused.text) == ("This was not given to you, so you cannot answer it or give it up. Check that you "
                                   "are signed in with your own account.")
    declined = await bob.post(f"/account/delegations/{view.id}/decline")
    assert declined.status_code == 303 and declined.headers["location"] == "/account/delegations?done=declined"
    assert (await rig.service.get(view.id)).status == "declined"
    again = await bob.post(f"/account/delegations/{view.id}/accept")
    assert again.status_code == 409
    assert alert(again.text) == ("This has already been answered or has ended, so it cannot be changed any more. Your "
                                 "delegations below show where things stand.")
    assert (await rig.service.get(view.id)).status == "declined"
    page = (await alice.http.get("/account/delegations")).text
    assert "Ended delegations (1)" in page and "Declined" in page
    assert "<h3>bob</h3>" in page and "Bob Durand" not in page  # never agreed: never named


async def test_cancel_a_pending_invitation_and_give_up_an_accepted_one(rig: Rig) -> None:
    alice = await rig.person("alice", "Alice", "Martin")
    bob = await rig.person("bob", "Bob", "Durand")
    await invite(alice)
    [first] = await rig.service.given(await rig.id_of("alice"))
    confirm = await alice.http.get(f"/account/delegations/{first.id}/revoke")
    assert "<h1>Cancel the invitation to bob?</h1>" in confirm.text  # still the username: not accepted yet
    cancelled = await alice.post(f"/account/delegations/{first.id}/revoke",
                                 page=f"/account/delegations/{first.id}/revoke")
    assert cancelled.headers["location"] == "/account/delegations?done=cancelled"
    assert (await rig.service.get(first.id)).status == "revoked"

    await invite(alice)
    second = next(v for v in await rig.service.given(await rig.id_of("alice")) if v.status == "pending")
    await bob.post(f"/account/delegations/{second.id}/accept")
    # Bob cannot revoke Alice's delegation (only give it up); Alice cannot give up what she gave.
    assert (await bob.http.get(f"/account/delegations/{second.id}/revoke")).status_code == 404
    refused = await bob.post(f"/account/delegations/{second.id}/revoke")
    assert refused.status_code == 403
    assert alert(refused.text) == ("Only the person concerned can do this. Check that you are signed in with your own "
                                   "account.")
    assert (await alice.http.get(f"/account/delegations/{second.id}/give-up")).status_code == 404
    confirm = await bob.http.get(f"/account/delegations/{second.id}/give-up")
    assert confirm.status_code == 200 and "<h1>Stop acting for Alice Martin?</h1>" in confirm.text
    given_up = await bob.post(f"/account/delegations/{second.id}/give-up",
                              page=f"/account/delegations/{second.id}/give-up")
    assert given_up.headers["location"] == "/account/delegations?done=given_up"
    assert (await rig.service.get(second.id)).status == "revoked"
    # Ended: its confirmation page says so instead of offering the button again.
    ended = await bob.http.get(f"/account/delegations/{second.id}/give-up")
    assert ended.status_code == 409 and "cannot be changed any more" in alert(ended.text)


async def test_unknown_or_malformed_delegation_ids(rig: Rig) -> None:
    alice = await rig.person("alice", "Alice", "Martin")
    expected = ("This delegation does not exist, or no longer does. Your delegations below show where things "
                "stand.")
    for path in ("/account/delegations/" + "0" * 32 + "/accept", "/account/delegations/not-an-id/decline",
                 "/account/delegations/" + "f" * 32 + "/revoke", "/account/delegations/%27%3B--/give-up"):
        response = await alice.post(path)
        assert response.status_code == 404, path
        assert alert(response.text) == expected
    page = await alice.http.get("/account/delegations/" + "0" * 32 + "/withdraw")
    assert page.status_code == 404 and alert(page.text) == expected


# --- no account enumeration ----------------------------------------------------------------------------------------

async def test_an_unknown_username_answers_exactly_like_one_who_cannot_accept(rig: Rig) -> None:
    rig.use(dataclasses.replace(rig.service.settings, invitations_per_day=3))
    alice = await rig.person("alice", "Alice", "Martin")
    await rig.account("dr.house", "Greg", "House", kind="professional")
    carol = await rig.account("carol", "Carol", "Petit")
    await rig.account("dave", "Dave", "Roux")
    async with rig.container.db.transaction() as session:
        (await session.get(Account, carol)).status = "locked"  # type: ignore[union-attr]
    answers = {}
    for username in ("nobody-here", "dr.house", "carol"):
        response = await invite(alice, username=username)
        answers[username] = (response.status_code, response.text.replace(f'value="{username}"', 'value="?"'))
    assert len(set(answers.values())) == 1, "the three answers differ"
    status, body = answers["nobody-here"]
    assert status == 400 and alert(body) == NO_SUCH_INVITEE
    assert await rig.rows() == 0
    # Each try used one of the day's invitations, known or not: the limit answers the same for everyone.
    limited = [await invite(alice, username=username) for username in ("nobody-else", "dave")]
    assert {(r.status_code, alert(r.text)) for r in limited} == {
        (429, "You have sent too many invitations today. Please try again tomorrow.")}
    assert await rig.rows() == 0


# --- refusals on the invitation form --------------------------------------------------------------------------------

PROXY_REFUSALS: list[tuple[dict[str, Any], int, str, str]] = [
    ({"username": "  "}, 400, "username", "Type the username of the person."),
    ({"username": "x" * 201}, 400, "username",
     "This username is too long. Check it with the person and type it again."),
    ({"until": "31/02/2027"}, 400, "until", "Type the end date as day, month and year, for example 31/12/2026."),
    ({"until": "soon"}, 400, "until", "Type the end date as day, month and year, for example 31/12/2026."),
    ({"username": "alice"}, 403, "username",
     "You cannot choose yourself. Type the username of the person who will act for you."),
    ({"scope": []}, 400, "scopes", "Tick at least one thing this person may do."),
    ({"scope": ["profile", "prescription.sign"]}, 403, "scopes",
     "One of the things you ticked cannot be given to someone else. Untick it and try again."),
    ({"scope": ["email"]}, 403, "scopes",
     "One of the things you ticked cannot be given to someone else. Untick it and try again."),
    ({"scope": ["rpps"]}, 403, "scopes",
     "One of the things you ticked is reserved to health professionals. Untick it and try again."),
    ({"until": "2029-03-09"}, 403, "until", "This end date is too far away. Choose March 8, 2029 or an earlier date."),
    ({"until": "2026-03-09"}, 400, "until", "This end date has passed. Choose today or a later date."),
]


async def test_every_refusal_of_the_invitation_form(rig: Rig) -> None:
    alice = await rig.person("alice", "Alice", "Martin")
    await rig.account("bob", "Bob", "Durand")
    for overrides, status, field, sentence in PROXY_REFUSALS:
        response = await invite(alice, **overrides)
        assert (response.status_code, alert(response.text)) == (status, sentence), overrides
        # The sentence links to the field, which says it is in error; what was typed is shown again.
        assert f'<a href="#{field}">' in response.text
        assert f'id="{field}-error"' in response.text
        if field in ("username", "until"):
            assert re.search(rf'<input id="{field}"[^>]*aria-invalid="true"', response.text, re.S), overrides
    assert await rig.rows() == 0
    # The last day itself is accepted, and so is today.
    for until in ("2029-03-08", "08/03/2029", "2026-03-10"):
        assert (await invite(alice, until=until)).status_code == 303, until
    views = await rig.service.given(await rig.id_of("alice"))
    assert sorted(v.valid_until for v in views) == [
        datetime(2026, 3, 10, 23, 0, tzinfo=UTC), datetime(2029, 3, 8, 23, 0, tzinfo=UTC),
        datetime(2029, 3, 8, 23, 0, tzinfo=UTC)]  # the closing midnight, Paris time


async def test_refusals_are_in_french_for_a_french_reader(rig: Rig) -> None:
    alice = await rig.person("alice", "Alice", "Martin", lang="fr")
    await rig.account("bob", "Bob", "Durand")
    response = await invite(alice, username="nobody-here")
    assert alert(response.text) == (
        "Nous n’avons pas pu envoyer cette invitation. Vérifiez l’identifiant avec la personne : elle doit avoir son "
        "propre compte Mandat de particulier, et ce compte doit être ouvert.")
    response = await invite(alice, until="2030-01-01")
    assert alert(response.text) == ("Cette date de fin est trop lointaine. Choisissez le 8 mars 2029 ou une date plus "
                                    "proche.")


async def test_a_professional_does_not_invite_a_proxy(rig: Rig) -> None:
    doctor = await rig.person("dr.martin", "Claire", "Martin", kind="professional")
    await rig.account("bob", "Bob", "Durand")
    sentence = ("Only a citizen can authorise someone to act for them. A health professional gives access to an "
                "assistant instead.")
    page = await doctor.http.get("/account/delegations/proxy")
    assert page.status_code == 403 and alert(page.text) == sentence and 'name="username"' not in page.text
    for username in ("bob", "nobody-here"):  # refused before the username is looked up
        response = await doctor.post("/account/delegations/proxy", {**INVITE, "username": username})
        assert (response.status_code, alert(response.text)) == (403, sentence)
    assert await rig.rows() == 0


# --- acting for someone: no re-delegation ----------------------------------------------------------------------------

async def test_while_acting_for_someone_nothing_can_be_changed(rig: Rig) -> None:
    alice_id = await rig.account("alice", "Alice", "Martin")
    bob = await rig.person("bob", "Bob", "Durand")
    bob_id = await rig.id_of("bob")
    await rig.account("carol", "Carol", "Petit")
    held = await rig.service.create(DelegationRequest("proxy", alice_id, bob_id, ("openid", "profile")), ADMIN)
    provider = rig.container.provider
    session = await load_session(provider, await bob.session_token())
    assert session is not None
    await set_acting(provider, session, Acting(held.id, alice_id, "Alice Martin"))

    page = (await bob.http.get("/account/delegations")).text
    assert ("While you act for Alice Martin, you cannot give or change access: choose “Back to myself” first."
            in unescape(page))
    for username in ("carol", "nobody-here"):  # the same answer whether the username exists or not
        response = await invite(bob, username=username)
        assert (response.status_code, alert(response.text)) == (403, ACTING)
    response = await bob.post(f"/account/delegations/{held.id}/give-up")
    assert (response.status_code, alert(response.text)) == (403, ACTING)
    assert (await rig.service.get(held.id)).status == "active" and await rig.rows() == 1
    assert "delegation:refused" not in await rig.audit_tags()  # refused before the service: nothing was tried


# --- a professional and their assistant -----------------------------------------------------------------------------

DOCTOR_ID = "810001234567"
SITES = [("S1", "Cabinet des Lilas", "75011", "PARIS"), ("S2", "Clinique du Parc", "69003", "LYON")]
NO_SUCH_ASSISTANT = ("We could not give access to this person. Check the username with them: they need their own "
                     "Mandat account, not a health professional's, and it must be open.")


async def test_a_professional_gives_an_assistant_access_then_revokes_it(rig: Rig) -> None:
    await rig.directory(DOCTOR_ID, SITES)
    doctor = await rig.person("dr.martin", "Claire", "Martin", kind="professional", national_id=DOCTOR_ID)
    secretary = await rig.person("sec", "Sam", "Leroy", kind="staff")
    form = await doctor.http.get("/account/delegations/assistant")
    assert form.status_code == 200
    labels = re.findall(r'<label for="structure-\d">(.*?)</label>', form.text)
    assert [text_of(label).strip() for label in labels] == ["Cabinet des Lilas — 75011 PARIS",
                                                            "Clinique du Parc — 69003 LYON"]
    assert 'value="2027-03-09"' in form.text  # 365 days at most
    response = await doctor.post("/account/delegations/assistant", {
        "structure": "S2", "username": "sec", "scope": ["mssante.read", "appointments.manage"], "until": ""},
        page="/account/delegations/assistant")
    assert response.status_code == 303 and response.headers["location"] == "/account/delegations?done=granted"
    [view] = await rig.service.given(await rig.id_of("dr.martin"))
    assert (view.status, view.context, view.scopes) == ("active", "S2", ("appointments.manage", "mssante.read",
                                                                         "openid"))
    # An assistant accepts nothing, so the professional sees the username they typed, not the name behind it.
    given = (await doctor.http.get("/account/delegations")).text
    assert "<h3>sec</h3>" in given and "Sam Leroy" not in given
    page = (await secretary.http.get("/account/delegations")).text
    received = text_of(page[page.index('id="received-title"'):page.index('id="history-title"')])
    assert "Claire Martin" in received and "Assistant — Clinique du Parc, 69003 LYON" in received
    assert "Read your secure health messages" in received and "Book, move and cancel your appointments" in received
    revoked = await doctor.post(f"/account/delegations/{view.id}/revoke", page=f"/account/delegations/{view.id}/revoke")
    assert revoked.headers["location"] == "/account/delegations?done=revoked"
    assert (await rig.service.get(view.id)).status == "revoked"


async def test_every_refusal_of_the_assistant_form(rig: Rig) -> None:
    await rig.directory(DOCTOR_ID, SITES)
    doctor = await rig.person("dr.martin", "Claire", "Martin", kind="professional", national_id=DOCTOR_ID)
    await rig.account("sec", "Sam", "Leroy", kind="staff")
    await rig.account("dr.house", "Greg", "House", kind="professional")
    base = {"structure": "S1", "username": "sec", "scope": ["mssante.read"], "until": ""}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"structure": ""}, 400, "Choose the place of practice this access is for."),
        ({"structure": "S9"}, 403, "Choose one of your own places of practice in the list."),
        ({"username": "dr.house"}, 400, NO_SUCH_ASSISTANT),
        ({"username": "nobody-here"}, 400, NO_SUCH_ASSISTANT),
        ({"scope": ["prescription.sign"]}, 403,
         "One of the things you ticked cannot be given to someone else. Untick it and try again."),
        ({"until": "2027-03-10"}, 403, "This end date is too far away. Choose March 9, 2027 or an earlier date."),
    ]
    for overrides, status, sentence in cases:
        response = await doctor.post("/account/delegations/assistant", {**base, **overrides},
                                     page="/account/delegations/assistant")
        assert (response.status_code, alert(response.text)) == (status, sentence), overrides
    assert await rig.rows() == 0

    citizen = await rig.person("alice", "Alice", "Martin")
    sentence = ("Only a health professional listed in the directory can give an assistant access. If you are one, "
                "contact the help desk to check your listing.")
    page = await citizen.http.get("/account/delegations/assistant")
    assert page.status_code == 403 and alert(page.text) == sentence and 'name="structure"' not in page.text
    response = await citizen.post("/account/delegations/assistant", base)
    assert (response.status_code, alert(response.text)) == (403, sentence)
    # A professional who is not in the directory is refused the same way.
    unlisted = await rig.person("dr.who", "John", "Smith", kind="professional")
    assert (await unlisted.http.get("/account/delegations/assistant")).status_code == 403
    assert await rig.rows() == 0


# --- a teenager and their parents ------------------------------------------------------------------------------------

async def guardian(rig: Rig, child: str, born: date, parent: str, *, at: datetime) -> str:
    """A registry parental link and the guardian delegation it creates, made when the clock read `at`."""
    child_id, parent_id = await rig.id_of(child), await rig.id_of(parent)
    async with rig.container.db.transaction() as session:
        session.add(RegistryLink(child_number=f"C{child[:10]}", parent_number=f"P{parent[:10]}"))
        session.add(RegistryRecord(number=f"C{child[:10]}", kind="NAM", family_name="Tremblay", given_names=child,
                                   birth_date=born, sex="F", address_line1="1 rue X", postal_code="H2X1Y4",
                                   city="Montréal", country="CA", row_hash="h" * 64))
    saved, rig.clock.now = rig.clock.now, at
    try:
        view = await rig.service.create(DelegationRequest("guardian", child_id, parent_id,
                                                          ("openid", "profile", "appointments.manage")), ADMIN)
    finally:
        rig.clock.now = saved
    return view.id


async def test_a_teenager_at_the_age_limit_consents_then_withdraws(rig: Rig) -> None:
    rig.use(DelegationSettings.for_jurisdiction("qc"))
    teen = await rig.person("lea", "Léa", "Tremblay", birthdate=date(2012, 3, 10), national_id="Clea")
    parent = await rig.person("maman", "Julie", "Tremblay", national_id="Pmaman")
    held = await guardian(rig, "lea", date(2012, 3, 10), "maman", at=datetime(2026, 1, 5, tzinfo=UTC))
    # 10 March 2026: Léa turns 14 today. Her mother keeps access only if she agrees.
    page = (await teen.http.get("/account/delegations")).text
    section = text_of(page[page.index('id="guardians-title"'):page.index('id="given-title"')])
    assert "Since you turned 14, Julie Tremblay can act for you only if you agree." in section
    assert "Nobody else can act for you at the moment." in text_of(page)
    assert "Waiting for an answer" not in section
    refused = await parent.post(f"/account/delegations/{held}/consent")
    assert (refused.status_code, alert(refused.text)) == (
        403, "Only the person concerned can do this. Check that you are signed in with your own account.")

    response = await teen.post(f"/account/delegations/{held}/consent")
    assert response.status_code == 303 and response.headers["location"] == "/account/delegations?done=consented"
    view = await rig.service.get(held)
    assert view.status == "active" and view.teen_consents
    page = (await teen.http.get("/account/delegations")).text
    assert ("Julie Tremblay can act for you because you agreed on March 10, 2026. You can withdraw your agreement at "
            "any time." in text_of(page))
    held_by_parent = (await parent.http.get("/account/delegations")).text
    assert "<h3>Léa Tremblay</h3>" in held_by_parent[held_by_parent.index('id="received-title"'):]

    confirm = await teen.http.get(f"/account/delegations/{held}/withdraw")
    assert confirm.status_code == 200 and "<h1>Withdraw your agreement?</h1>" in confirm.text
    response = await teen.post(f"/account/delegations/{held}/withdraw", page=f"/account/delegations/{held}/withdraw")
    assert response.headers["location"] == "/account/delegations?done=withdrawn"
    view = await rig.service.get(held)
    assert (view.status, view.expiry_reason) == ("expired", "teen_consent_withdrawn")
    page = text_of((await teen.http.get("/account/delegations?done=withdrawn")).text)
    assert "Done: your parent or guardian can no longer act for you." in page
    assert "You withdrew your agreement on March 10, 2026." in page and "I agree: Julie Tremblay may act for me" in page
    # The teenager does not revoke a guardian delegation: it ends by the rules, or by their withdrawal.
    assert (await teen.http.get(f"/account/delegations/{held}/revoke")).status_code == 404
    # And agrees again.
    assert (await teen.post(f"/account/delegations/{held}/consent")).status_code == 303
    assert (await rig.service.get(held)).status == "active"


async def test_below_the_age_limit_there_is_nothing_to_consent_to(rig: Rig) -> None:
    rig.use(DelegationSettings.for_jurisdiction("qc"))
    teen = await rig.person("noah", "Noah", "Tremblay", birthdate=date(2012, 3, 11), national_id="Cnoah")
    await rig.account("papa", "Marc", "Tremblay", national_id="Ppapa")
    held = await guardian(rig, "noah", date(2012, 3, 11), "papa", at=datetime(2026, 1, 5, tzinfo=UTC))
    page = text_of((await teen.http.get("/account/delegations")).text)
    assert "Marc Tremblay can act for you until you turn 14. After that, only if you agree." in page
    assert "I agree" not in page
    response = await teen.post(f"/account/delegations/{held}/consent")
    assert (response.status_code, alert(response.text)) == (
        403, "Only a teenager aged 14 to 17 can agree to a parent's access or stop it, on their own page.")
    assert not (await rig.service.get(held)).teen_consents


async def test_in_france_a_teenager_sees_their_parents_until_18(rig: Rig) -> None:
    teen = await rig.person("hugo", "Hugo", "Bernard", birthdate=date(2010, 1, 1), national_id="Chugo", lang="fr")
    await rig.account("mere", "Anne", "Bernard", national_id="Pmere")
    await guardian(rig, "hugo", date(2010, 1, 1), "mere", at=datetime(2026, 1, 5, tzinfo=UTC))
    page = text_of((await teen.http.get("/account/delegations")).text)
    assert "Vos parents ou tuteurs" in page and "Anne Bernard peut agir pour vous jusqu’à vos 18 ans." in page
    assert "J’accepte" not in page


# --- who acted for me -----------------------------------------------------------------------------------------------

async def test_who_acted_for_me_newest_first_by_pages(rig: Rig) -> None:
    alice = await rig.person("alice", "Alice", "Martin")
    alice_id, bob_id = await rig.id_of("alice"), await rig.account("bob", "Bob", "Durand")
    await rig.env.add_client("portail", name="Portail patient")
    held = await rig.service.create(DelegationRequest("proxy", alice_id, bob_id, ("openid", "profile")), ADMIN)
    audit = rig.container.audit
    audit.record("delegation:acting:chosen", actor=bob_id, subject=alice_id, client_id="portail",
                 delegation_id=held.id)
    for number in range(24):
        audit.record("delegation:token:issued", actor=bob_id, subject=alice_id, client_id="portail",
                     delegation_id=held.id, scopes=["openid", "profile", "appointments.manage"],
                     grant_type="refresh_token" if number else "authorization_code")
    audit.record("delegation:token:issued", actor=alice_id, subject=bob_id, client_id="portail")  # someone else's
    audit.record("delegation:created", actor="admin:test", subject=alice_id)  # not an act on her behalf
    await audit.flush()

    first = await alice.http.get("/account/delegations/history")
    assert first.status_code == 200
    entries = re.findall(r'<li class="card" id="event-(\d+)">(.*?)</li>\n', first.text, re.S)
    assert len(entries) == 20
    ids = [int(i) for i, _ in entries]
    assert ids == sorted(ids, reverse=True)
    assert text_of(entries[0][1]).strip().startswith("Bob Durand received access on your behalf for Portail patient")
    assert "See your name, birth date and contact details" in entries[0][1]
    assert "Book, move and cancel your appointments" in entries[0][1]
    assert "Sign in to health services" not in entries[0][1]  # openid is implied, not listed
    older = re.search(r'href="/account/delegations/history\?before=(\d+)"', first.text)
    assert older and int(older.group(1)) == ids[-1]

    second = await alice.http.get(f"/account/delegations/history?before={older.group(1)}")
    rest = re.findall(r'<li class="card" id="event-(\d+)">(.*?)</li>\n', second.text, re.S)
    assert len(rest) == 5 and "Older entries" not in second.text and "Newest entries" in second.text
    assert "Bob Durand chose to act for you on Portail patient" in text_of(rest[-1][1])
    junk = await alice.http.get("/account/delegations/history?before=1%20OR%201=1")
    assert junk.status_code == 200 and len(re.findall(r'id="event-', junk.text)) == 20

    bob = rig.browser("fr")
    await bob.sign_in("bob", "/account/delegations/history")
    page = await bob.http.get("/account/delegations/history")
    assert "Alice Martin a reçu un accès en votre nom pour Portail patient" in text_of(page.text)
    carol = await rig.person("carol", "Carol", "Petit")
    assert "Nobody has acted for you yet." in (await carol.http.get("/account/delegations/history")).text


# --- messages --------------------------------------------------------------------------------------------------------

async def test_the_principal_is_told_what_others_did_and_marks_it_read(rig: Rig) -> None:
    alice = await rig.person("alice", "Alice", "Martin", lang="fr")
    alice_id, bob_id = await rig.id_of("alice"), await rig.account("bob", "Bob", "Durand")
    made = await rig.service.create(DelegationRequest("proxy", alice_id, bob_id, ("openid", "profile")), ADMIN)
    await rig.service.revoke(made.id, ADMIN, "signed form withdrawn")
    page = text_of((await alice.http.get("/account/delegations")).text)
    assert "Un administrateur a donné à Bob Durand le droit d’agir pour vous." in page
    assert "Un administrateur a retiré à Bob Durand le droit d’agir pour vous." in page
    assert page.count("Nouveau") == 2
    notes = await rig.service.notifications(alice_id)
    someone_else = await rig.service.create(DelegationRequest("proxy", bob_id, alice_id, ("openid",)), ADMIN)
    [bobs] = await rig.service.notifications(bob_id)
    assert bobs.delegation_id == someone_else.id
    response = await alice.post("/account/delegations/notices/read", {
        "notice": [str(n.id) for n in notes] + [str(bobs.id), "abc", "9" * 30]})
    assert response.status_code == 303 and response.headers["location"] == "/account/delegations?done=read"
    assert all(n.read_at is not None for n in await rig.service.notifications(alice_id))
    assert (await rig.service.notifications(bob_id))[0].read_at is None  # not hers: untouched
    page = text_of((await alice.http.get("/account/delegations?done=read")).text)
    assert "Les messages sont marqués comme lus." in page and "Nouveau" not in page


async def test_the_account_page_links_to_the_delegations(rig: Rig) -> None:
    alice = await rig.person("alice", "Alice", "Martin")
    bob = await rig.person("bob", "Bob", "Durand")
    await invite(alice)
    page = text_of((await bob.http.get("/account")).text)
    assert "Acting for one another" in page and "Invitations waiting for your answer: 1" in page
    assert "See and choose who can act for you" in page and "See who acted for you" in page
    html = (await alice.http.get("/account")).text
    assert 'href="/account/delegations"' in html and 'href="/account/delegations/history"' in html


async def test_every_page_renders_in_french(rig: Rig) -> None:
    await rig.directory(DOCTOR_ID, SITES)
    doctor = await rig.person("dr.martin", "Claire", "Martin", kind="professional", national_id=DOCTOR_ID, lang="fr")
    alice = await rig.person("alice", "Alice", "Martin", lang="fr")
    for browser, path, title in (
        (alice, "/account/delegations", "Agir les uns pour les autres"),
        (alice, "/account/delegations/proxy", "Autoriser une personne à agir pour vous"),
        (alice, "/account/delegations/history", "Qui a agi pour vous"),
        (doctor, "/account/delegations/assistant", "Donner un accès à votre assistant ou assistante"),
    ):
        page = await browser.http.get(path)
        assert page.status_code == 200 and '<html lang="fr">' in page.text
        assert f"<h1>{title}</h1>" in unescape(page.text), path


# --- the catalogue --------------------------------------------------------------------------------------------------

MY_TEMPLATES = ("_parts.html", "account_section.html", "assistant_form.html", "confirm.html", "delegations.html",
                "history.html", "outbox_section.html", "proxy_form.html")


def test_every_text_has_its_french() -> None:
    from babel.messages.pofile import read_po

    from idp.delegation import page_forms, page_views, pages

    root = Path(pages.__file__).parents[1]
    translated: set[str] = set()
    for po in root.glob("*/locales/fr/LC_MESSAGES/*.po"):
        with po.open("rb") as handle:
            translated |= {str(m.id) for m in read_po(handle) if m.id and m.string}
    wanted: set[str] = set()
    for name in MY_TEMPLATES:
        source = (root / "delegation" / "templates" / "delegation" / name).read_text()
        wanted |= {double or single for double, single in re.findall(r"""_\((?:"([^"]+)"|'([^']+)')""", source)}
    assert len(wanted) > 60, "the template scan found too few texts: the pattern no longer matches"
    wanted |= {message for message, _field in page_forms.RULE_TEXTS.values()}
    wanted |= {*page_forms.FORM_TEXTS.values(), *page_forms.SCOPE_LABELS.values(), page_forms.ACTING_FOR,
               page_forms.UNKNOWN_RULE, page_forms.NO_SUCH_ASSISTANT}
    wanted |= {*page_views.KIND_LABELS.values(), *page_views.STATUS_LABELS.values(), *page_views.NOTICE_TEXTS.values(),
               *page_views.ACTORS.values(), *page_views.HISTORY_TEXTS.values(), page_views.NO_ACCOUNT,
               page_views.MOMENT}
    wanted |= set(pages.DONE.values())
    for confirm in (*pages.CONFIRMS.values(), pages.CANCEL):
        wanted |= {confirm.title, confirm.question, confirm.button}
    assert wanted - translated == set()


def test_every_rule_has_its_sentence_and_an_unknown_one_says_its_name() -> None:
    from idp.delegation.page_forms import RULE_TEXTS
    from idp.delegation.pages import problem_of

    assert set(errors.RULES) - set(RULE_TEXTS) == set()
    settings = DelegationSettings.for_jurisdiction("fr")

    class Brand(errors.DelegationError):
        rule = "brand_new_rule"

    problem = problem_of(Brand("x"), settings=settings, now=T0)
    assert (problem.message, problem.values, problem.status) == (
        "This change is not allowed (rule: {rule}). Contact the help desk if you need help.",
        {"rule": "brand_new_rule"}, 403)


async def test_the_demo_outbox_shows_the_messages_about_delegations(tmp_path: Path, sqlite_template: Path) -> None:
    db_path = tmp_path / "demo.db"
    shutil.copy(sqlite_template, db_path)
    app = create_app(make_settings(tmp_path, f"sqlite+aiosqlite:///{db_path}", MANDAT_DEMO="1"))
    async with app.router.lifespan_context(app):
        container = app.state.container
        service = container.service(DelegationService)
        alice = await container.accounts.create(username="alice", password=None, given_name="Alice",
                                                family_name="Martin")
        bob = await container.accounts.create(username="bob", password=None, given_name="Bob", family_name="Durand")
        await service.create(DelegationRequest("proxy", alice.id, bob.id, ("openid", "profile")), ADMIN)
        await service.create(DelegationRequest("proxy", alice.id, bob.id, ("openid",)), Actor.person(alice.id))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            page = await http.get("/demo/outbox", headers={"accept-language": "fr"})
    assert page.status_code == 200
    section = text_of(page.text[page.text.index('id="delegation-outbox-title"'):])
    assert "Messages sur les délégations" in section
    # Newest first: Bob's invitation, then Alice's notice of what the administrator did.
    assert section.index("À : Bob Durand (bob)") < section.index("À : Alice Martin (alice)")
    assert "Alice Martin vous demande d’agir pour son compte. Répondez à l’invitation sur cette page." in section
    assert "Un administrateur a donné à Bob Durand le droit d’agir pour vous." in section
    assert section.count("Pas encore lu") == 2
