"""The self-service delegation pages over HTTP, against `create_app` on both backends: every page, every form's
CSRF and 303, every refusal's exact sentence, no account enumeration on invitations, nothing changed by a refused
form. People sign in through /account/login like a browser does; their data is made through the services."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from idp.audit import AuditEvent
from idp.cards.models import Professional, ProfessionalActivity, ProfessionalExercise
from idp.delegation import errors
from idp.delegation.config import DelegationSettings
from idp.delegation.interfaces import Actor, DelegationRequest
from idp.delegation.models import Delegation
from idp.delegation.service import DelegationService
from idp.enrollment.models import RegistryLink, RegistryRecord
from idp.oidc.sessions import Acting, load_session, set_acting
from tests.conftest import ISSUER, PASSWORD, Env, form_field

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

    async def csrf(self, path: str = "/account/delegations") -> str:
        page = await self.http.get(path)
        assert page.status_code in (200, 400, 403, 404, 409), page.text
        return form_field(page.text, "csrf_token")

    async def post(self, path: str, data: dict[str, Any] | None = None, *, page: str = "/account/delegations"
                   ) -> httpx.Response:
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
