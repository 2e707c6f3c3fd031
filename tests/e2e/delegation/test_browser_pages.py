"""The self-service delegation pages in real Chromium.

1. A citizen invites a proxy, the proxy accepts, the citizen revokes: at 320 px, in French, with the CSP enforced
   (no script or style may be refused); axe-core runs on each page on the way, in a second context that bypasses
   the CSP only to inject itself, with the first one's cookies.
2. Every delegation page, in French and in English, with data that fills every section (messages, an invitation,
   given and received delegations, an ended one, a teenager's parents in both consent states, a professional and
   their assistant, the history, the confirmation pages, the forms with a refusal shown, the demo outbox): axe-core
   (WCAG 2.1 AA) clean, no sideways scrolling at 320 px, and every button, acting link and tick box label at least
   44 px high.

The data is made through the services of the live server (never the demo seeding).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page

from idp.cards.models import Professional, ProfessionalActivity, ProfessionalExercise
from idp.db import utcnow
from idp.delegation import policy
from idp.delegation.interfaces import Actor, DelegationRequest
from idp.delegation.service import DelegationService, years_before
from idp.enrollment.models import RegistryLink
from tests.conftest import PASSWORD
from tests.e2e.conftest import LiveIdP, check_accessibility

pytestmark = pytest.mark.browser

ADMIN = Actor.administrator("e2e")
PHONE = {"width": 320, "height": 640}
LOCALES = {"fr": "fr-FR", "en": "en-GB"}


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MANDAT_E2E_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def sign_in(page: Page, issuer: str, username: str, next_page: str = "/account") -> None:
    await page.goto(f"{issuer}/account/login?next={next_page}")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("form[action='/account/login'] button[type=submit]").click()
    await page.wait_for_url(f"{issuer}{next_page}")


async def axe_on(browser: Any, context: BrowserContext, url: str, lang: str) -> None:
    """axe-core on `url` as the person in `context` sees it, in a CSP-bypassing context with the same cookies."""
    checker = await browser.new_context(locale=LOCALES[lang], bypass_csp=True, viewport=PHONE)
    try:
        await checker.add_cookies(await context.cookies())
        page = await checker.new_page()
        await page.goto(url)
        await check_accessibility(page)
    finally:
        await checker.close()


async def fits_a_phone(page: Page) -> None:
    """No sideways scrolling at 320 px; every button, acting link and tick box label is a finger's size."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url}: {width} px wide at a {PHONE['width']} px viewport"
    small = await page.evaluate("""() => [...document.querySelectorAll(
        'main button, main a.dl-button, main .dl-choice label')]
        .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
        .map(e => e.outerHTML.slice(0, 80))""")
    assert not small, f"{page.url}: targets under 44 px: {small}"


async def account(idp: LiveIdP, username: str, given: str, family: str, **extra: Any) -> str:
    created = await idp.container.accounts.create(username=username, password=PASSWORD, given_name=given,
                                                  family_name=family, **extra)
    return created.id


# --- 1. invite, accept, revoke --------------------------------------------------------------------------------------

async def test_a_citizen_invites_a_proxy_who_accepts_then_the_citizen_revokes(
    live_idp_factory: Callable[..., Any], browser: Any, screenshots: Path
) -> None:
    async with live_idp_factory() as idp:
        await account(idp, "alice", "Alice", "Martin")
        await account(idp, "bob", "Bob", "Durand")
        service = idp.container.service(DelegationService)
        issuer = idp.issuer
        errors: list[str] = []

        def watch(page: Page) -> None:
            page.on("console", lambda message: errors.append(message.text)
                    if message.type == "error" and "Failed to load resource" not in message.text else None)
            page.on("pageerror", lambda error: errors.append(str(error)))

        alice_context = await browser.new_context(locale="fr-FR", viewport=PHONE)
        alice = await alice_context.new_page()
        watch(alice)
        await sign_in(alice, issuer, "alice")
        # From /account, the delegation section leads to the overview.
        await alice.get_by_role("link", name="Voir et choisir qui peut agir pour vous").click()
        await alice.wait_for_url(f"{issuer}/account/delegations")
        assert await alice.get_by_text("Personne ne peut agir pour vous en ce moment.").is_visible()
        await alice.get_by_role("link", name="Autoriser une personne à agir pour vous").click()
        await alice.wait_for_url(f"{issuer}/account/delegations/proxy")
        await axe_on(browser, alice_context, alice.url, "fr")
        await fits_a_phone(alice)
        await alice.get_by_label("Son identifiant Mandat").fill("bob")
        await alice.get_by_label("Voir votre nom, votre date de naissance et vos coordonnées").check()
        await alice.get_by_label("Prendre, déplacer et annuler vos rendez-vous").check()
        await alice.screenshot(path=str(screenshots / "delegation-invite-320.png"), full_page=True)
        await alice.get_by_role("button", name="Envoyer l’invitation").click()
        await alice.wait_for_url(f"{issuer}/account/delegations?done=invited")
        assert (await alice.get_by_role("status").inner_text()).startswith("Votre invitation est envoyée.")
        waiting = alice.locator(".card", has=alice.get_by_role("heading", name="bob", exact=True))
        assert "En attente de réponse" in await waiting.inner_text()
        await axe_on(browser, alice_context, alice.url, "fr")
        await fits_a_phone(alice)

        bob_context = await browser.new_context(locale="fr-FR", viewport=PHONE)
        bob = await bob_context.new_page()
        watch(bob)
        await sign_in(bob, issuer, "bob", "/account/delegations")
        assert await bob.get_by_role("heading", name="Alice Martin vous demande d’agir pour son compte").is_visible()
        await axe_on(browser, bob_context, bob.url, "fr")
        await fits_a_phone(bob)
        await bob.get_by_role("button", name="Accepter — Alice Martin").click()
        await bob.wait_for_url(f"{issuer}/account/delegations?done=accepted")
        received = bob.locator("section", has=bob.get_by_role("heading", name="Personnes pour qui vous pouvez agir"))
        assert "Alice Martin" in await received.inner_text()

        await alice.goto(f"{issuer}/account/delegations")
        card = alice.locator(".card", has=alice.get_by_role("heading", name="Bob Durand", exact=True))
        assert "En cours" in await card.inner_text()
        await card.get_by_role("link", name="Retirer cet accès — Bob Durand").click()
        await alice.wait_for_url(f"{issuer}/account/delegations/*/revoke")
        assert await alice.get_by_role("heading", name="Retirer l’accès de Bob Durand ?").is_visible()
        await axe_on(browser, alice_context, alice.url, "fr")
        await fits_a_phone(alice)
        await alice.get_by_role("button", name="Oui, retirer cet accès").click()
        await alice.wait_for_url(f"{issuer}/account/delegations?done=revoked")
        assert await alice.get_by_role("status").inner_text() == ("C’est fait : cette personne ne peut plus agir pour "
                                                                  "vous.")
        [view] = await service.given(await service.account_id("alice"))
        assert view.status == "revoked" and view.scopes == ("appointments.manage", "openid", "profile")

        # Bob sees it ended too.
        await bob.goto(f"{issuer}/account/delegations")
        assert await bob.get_by_text("Vous ne pouvez agir pour personne en ce moment.").is_visible()
        assert not errors, errors
        await alice_context.close()
        await bob_context.close()


# --- 2. every page, both languages, 320 px ---------------------------------------------------------------------------

@dataclass
class World:
    ids: dict[str, str]
    delegations: dict[str, str]


async def build_world(idp: LiveIdP) -> World:
    """Everyone and everything the pages show, made through the services (Québec rules: consent from 14)."""
    container = idp.container
    service = container.service(DelegationService)
    ids = {}
    for username, given, family, extra in (
        ("alice", "Alice", "Martin", {}), ("bob", "Bob", "Durand", {}), ("carol", "Carol", "Petit", {}),
        ("dave", "Dave", "Roux", {}), ("erin", "Erin", "Blanc", {}), ("frank", "Frank", "Noir", {}),
        ("sec", "Sam", "Leroy", {"kind": "staff"}),
        ("dr.martin", "Claire", "Martin-Lefèvre", {"kind": "professional", "national_id": "810001234567"}),
        ("maman", "Julie", "Tremblay", {"national_id": "PMAMAN"}),
        ("papa", "Marc", "Tremblay", {"national_id": "PPAPA"}),
    ):
        ids[username] = await account(idp, username, given, family, **extra)
    today = policy.local_date(utcnow(), service.settings.zone())
    teen_born = years_before(today, 14) - timedelta(days=10)  # 14 and ten days: consent is now hers to give
    ids["lea"] = await account(idp, "lea", "Léa", "Tremblay", birthdate=teen_born, national_id="CLEA")

    alice = Actor.person(ids["alice"])
    made: dict[str, str] = {}
    view = await service.create(DelegationRequest("proxy", ids["alice"], ids["bob"], ("openid", "profile",
                                                                                        "dmp.read")), alice)
    await service.accept(view.id, Actor.person(ids["bob"]))
    made["bob"] = view.id
    made["dave"] = (await service.create(DelegationRequest("proxy", ids["alice"], ids["dave"], ("openid",
                                                                                                 "profile")), alice)).id
    erin = await service.create(DelegationRequest("proxy", ids["alice"], ids["erin"], ("openid", "profile")), alice)
    await service.revoke(erin.id, alice, "test")
    await service.create(DelegationRequest("proxy", ids["alice"], ids["frank"], ("openid", "mssante.read")), ADMIN)
    made["carol"] = (await service.create(DelegationRequest("proxy", ids["carol"], ids["alice"], ("openid",
                                                                                                   "profile")),
                                          Actor.person(ids["carol"]))).id

    async with container.db.transaction() as session:
        session.add(Professional(national_id="810001234567", id_type="8", rpps="10001234567"))
        await session.flush()
        exercise = ProfessionalExercise(national_id="810001234567", code_profession="10")
        session.add(exercise)
        await session.flush()
        for position, (structure, sign, town) in enumerate((
                ("S1", "Cabinet médical des Lilas et de la Fontaine-au-Roi", "75011 PARIS"),
                ("S2", "Clinique du Parc", "69003 LYON"))):
            session.add(ProfessionalActivity(exercise_id=exercise.id, position=position,
                                             identifiant_technique_structure=structure,
                                             enseigne_commerciale_site=sign, code_postal=town[:5],
                                             bureau_cedex=town))
        for parent in ("PMAMAN", "PPAPA"):
            session.add(RegistryLink(child_number="CLEA", parent_number=parent))
    await service.create(DelegationRequest("assistant", ids["dr.martin"], ids["sec"],
                                           ("openid", "mssante.read", "appointments.manage"), context="S1"),
                         Actor.person(ids["dr.martin"]))

    # Léa's parents were registered as her guardians a month ago, when she was 13.
    real_clock = service.clock
    service.clock = lambda: real_clock() - timedelta(days=30)
    try:
        for parent in ("maman", "papa"):
            made[parent] = (await service.create(DelegationRequest(
                "guardian", ids["lea"], ids[parent], ("openid", "profile", "appointments.manage")), ADMIN)).id
    finally:
        service.clock = real_clock
    await service.consent(made["papa"], Actor.person(ids["lea"]))  # papa: agreed; maman: waits for her

    for number in range(3):
        container.audit.record("delegation:token:issued", actor=ids["bob"], subject=ids["alice"],
                               client_id="portail", delegation_id=made["bob"], scopes=["openid", "profile"],
                               grant_type="authorization_code" if number == 0 else "refresh_token")
    container.audit.record("delegation:acting:chosen", actor=ids["bob"], subject=ids["alice"], client_id="portail",
                           delegation_id=made["bob"])
    await container.audit.flush()
    await container.clients.register(client_id="portail", name="Portail patient", redirect_uris=["https://rp/cb"],
                                     scopes=["openid", "profile"])
    return World(ids, made)


@asynccontextmanager
async def person(browser: Any, idp: LiveIdP, username: str, lang: str) -> AsyncIterator[Page]:
    context = await browser.new_context(locale=LOCALES[lang], bypass_csp=True, viewport=PHONE)
    try:
        page = await context.new_page()
        await sign_in(page, idp.issuer, username)
        yield page
    finally:
        await context.close()


async def check(page: Page, url: str | None = None) -> None:
    if url is not None:
        response = await page.goto(url)
        assert response is not None and response.status == 200, url
    await check_accessibility(page)
    await fits_a_phone(page)


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_every_delegation_page_is_accessible_and_fits_a_phone(
    live_idp_factory: Callable[..., Any], browser: Any, lang: str, screenshots: Path
) -> None:
    async with live_idp_factory(MANDAT_JURISDICTION="qc", MANDAT_DEMO="1") as idp:
        world = await build_world(idp)
        base = f"{idp.issuer}/account/delegations"
        made = world.delegations

        async with person(browser, idp, "alice", lang) as page:
            await check(page, f"{idp.issuer}/account")
            assert await page.locator("#delegation-title").count() == 1
            await check(page, base)
            # Every section is there: messages, an invitation, given (live and waiting), an ended one.
            for selector in ("#notices-title", "#invitations-title", "#given-title", "#received-title",
                             "details.card"):
                assert await page.locator(selector).count() == 1, selector
            await page.locator("details.card summary").click()
            await check(page)
            await page.screenshot(path=str(screenshots / f"delegations-{lang}-320.png"), full_page=True)
            await check(page, f"{base}/{made['bob']}/revoke")
            await check(page, f"{base}/{made['dave']}/revoke")
            await check(page, f"{base}/history")
            assert await page.locator("li.card").count() == 4
            await page.screenshot(path=str(screenshots / f"delegations-history-{lang}-320.png"), full_page=True)
            await check(page, f"{base}/proxy")
            await page.locator("#username").fill("")
            await page.locator("form[action='/account/delegations/proxy'] button[type=submit]").click()
            await page.locator("#problem").wait_for()
            await check(page)  # the refusal shown on the form

        async with person(browser, idp, "bob", lang) as page:
            await check(page, f"{base}/{made['bob']}/give-up")

        async with person(browser, idp, "lea", lang) as page:
            await check(page, base)
            guardians = page.locator("section", has=page.locator("#guardians-title"))
            assert await guardians.locator("form[action$='/consent']").count() == 1  # maman: waits for her
            assert await guardians.locator("a[href$='/withdraw']").count() == 1  # papa: agreed
            await page.screenshot(path=str(screenshots / f"delegations-teen-{lang}-320.png"), full_page=True)
            await check(page, f"{base}/{made['papa']}/withdraw")

        async with person(browser, idp, "dr.martin", lang) as page:
            await check(page, base)
            await check(page, f"{base}/assistant")
            await page.screenshot(path=str(screenshots / f"delegations-assistant-{lang}-320.png"), full_page=True)
            await page.locator("form[action='/account/delegations/assistant'] button[type=submit]").click()
            await page.locator("#problem").wait_for()
            await check(page)

        async with person(browser, idp, "sec", lang) as page:
            await check(page, base)
            assert await page.locator("#received-title").count() == 1

        context = await browser.new_context(locale=LOCALES[lang], bypass_csp=True, viewport=PHONE)
        page = await context.new_page()
        await check(page, f"{idp.issuer}/demo/outbox")
        assert await page.locator("#delegation-outbox-title").count() == 1
        await context.close()
