"""Real browser: the sign-in page as planned for the client's audience and the requested acr.

A citizen client gets the password form first (no card, no PIN field), a professional client the CPS card first;
every other method sits under the closed "Other ways to sign in" disclosure. A method that cannot reach the
requested acr is not offered. Each page is checked with axe-core (WCAG 2.1 AA) in French and English, closed and
with its disclosure open; the citizen page also at 320 px and with the keyboard only.

Screenshots (phone width) go to tmp, or to $MANDAT_E2E_SCREENSHOTS when set, to be looked at by a person.
"""

from __future__ import annotations

import html
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import Page
from sqlalchemy import select

from idp.audit import AuditEvent
from idp.cards.testpki import GeneratedPki, make_test_pki
from tests.conftest import PASSWORD, REDIRECT, pkce_pair
from tests.e2e.conftest import LiveIdP, check_accessibility, open_other_ways

pytestmark = pytest.mark.browser

CITIZEN_CLIENT, PRO_CLIENT = "portail-patient", "portail-pro"
TEXTS = {
    "fr": {"h1": "Se connecter", "others": "Autres moyens de vous connecter",
           "password_button": "Se connecter avec mon mot de passe",
           "key_button": "Se connecter avec une clé de sécurité ou une clé d'accès",
           "card_button": "Se connecter avec ma carte CPS", "card_help": "Un problème avec votre carte ?",
           "step_up": "Après votre mot de passe, vous confirmerez avec votre clé de sécurité : Portail patient "
                      "demande une connexion renforcée.",
           "too_weak": "{client} demande une connexion plus sûre qu'un mot de passe : utilisez votre carte ou votre "
                       "clé de sécurité."},
    "en": {"h1": "Sign in", "others": "Other ways to sign in", "password_button": "Sign in with my password",
           "key_button": "Sign in with a security key or passkey", "card_button": "Sign in with my CPS card",
           "card_help": "A problem with your card?",
           "step_up": "After your password, you will confirm with your security key: Portail patient asks for a "
                      "stronger sign-in.",
           "too_weak": "{client} asks for a stronger sign-in than a password: use your card or security key."},
}
LOCALES = {"fr": "fr-FR", "en": "en-GB"}
PHONE = {"width": 360, "height": 800}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> GeneratedPki:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MANDAT_E2E_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@asynccontextmanager
async def signin_idp(live_idp_factory: Callable[..., Any], **extra_env: str) -> AsyncIterator[LiveIdP]:
    """A live IdP with a citizen client and a professional client (and a citizen account)."""
    async with live_idp_factory(**extra_env) as idp:
        for client_id, name, audiences in ((CITIZEN_CLIENT, "Portail patient", ["citizen"]),
                                           (PRO_CLIENT, "Portail professionnel", ["professional"])):
            created = await idp.container.clients.register(
                client_id=client_id, name=name, redirect_uris=[REDIRECT], post_logout_redirect_uris=[],
                scopes=["openid", "profile"], audiences=audiences)
            assert created.secret
        await idp.container.accounts.create(username="alice", password=PASSWORD, given_name="Alice",
                                            family_name="Martin", email="alice@example.org")
        yield idp


def authorize_url(idp: LiveIdP, client_id: str, *, lang: str, acr_values: str | None = None) -> str:
    _verifier, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "openid profile",
              "state": "st-123", "nonce": "n-456", "code_challenge": challenge, "code_challenge_method": "S256",
              "ui_locales": lang}
    if acr_values:
        params["acr_values"] = acr_values
    return f"{idp.issuer}/authorize?{urlencode(params)}"


async def open_signin(browser: Any, idp: LiveIdP, client_id: str, lang: str, *, acr_values: str | None = None,
                      **context_options: Any) -> Page:
    """The sign-in page of a fresh authorization request, in `lang` (bypass_csp only so axe-core can be injected)."""
    context = await browser.new_context(locale=LOCALES[lang], bypass_csp=True, **context_options)
    page: Page = await context.new_page()
    await page.goto(authorize_url(idp, client_id, lang=lang, acr_values=acr_values))
    await page.wait_for_url(f"{idp.issuer}/interaction/*")
    assert await page.locator("html").get_attribute("lang") == lang
    return page


async def page_shape(page: Page) -> None:
    """What every sign-in page keeps: one h1, one primary method, one visible primary button."""
    assert await page.locator("h1").count() == 1
    assert await page.locator("section.signin-primary").count() == 1
    assert await page.locator("button.primary:visible").count() == 1


async def axe_closed_and_open(page: Page) -> None:
    await check_accessibility(page)
    if await page.locator("details.signin-others").count():
        await open_other_ways(page)
        await check_accessibility(page)


async def no_horizontal_scroll(page: Page, width: int) -> None:
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url}: the page is {scroll_width} px wide at a {width} px viewport"


async def focused_id(page: Page) -> str:
    return str(await page.evaluate("document.activeElement ? document.activeElement.id || "
                                   "document.activeElement.tagName + '.' + document.activeElement.className : ''"))


async def test_citizen_portal_page_has_no_pin_field(live_idp_factory: Any, browser: Any, screenshots: Path,
                                                    pki: GeneratedPki) -> None:
    # Card sign-in is on for the server: a citizen client must still never see it.
    async with signin_idp(live_idp_factory, **pki.env()) as idp:
        for lang, text in TEXTS.items():
            page = await open_signin(browser, idp, CITIZEN_CLIENT, lang)
            assert await page.locator("h1").inner_text() == text["h1"]
            assert await page.locator("#card-pin").count() == 0
            assert await page.locator("[data-cards]").count() == 0
            assert await page.get_by_text(text["card_help"]).count() == 0
            await page_shape(page)

            # The password form is the one way in; its username field offers passkeys through autofill.
            primary = page.locator("section.signin-primary")
            assert await primary.locator("#username").get_attribute("autocomplete") == "username webauthn"
            assert await primary.locator("#password").is_visible()
            submit = primary.get_by_role("button", name=text["password_button"])
            assert await submit.get_attribute("class") == "primary"
            assert await page.locator("#pwd-step-up").count() == 0

            # The passkey waits, hidden, under the closed "other ways" disclosure.
            others = page.locator("details.signin-others")
            assert await others.locator("summary").inner_text() == text["others"]
            assert not await others.evaluate("details => details.open")
            key_button = others.locator("[data-passkey-start]")
            assert await key_button.count() == 1 and not await key_button.is_visible()

            # Enrol and recover links.
            assert await page.locator("a[href='/enroll']").is_visible()
            assert await page.locator("a[href='/recover']").is_visible()

            await check_accessibility(page)
            await open_other_ways(page)
            assert await key_button.is_visible()
            assert await key_button.inner_text() == text["key_button"]
            assert await key_button.get_attribute("class") == "secondary"
            assert await page.locator("button.primary:visible").count() == 1
            await check_accessibility(page)
            await page.context.close()

        # A phone held by someone who enlarges nothing: 320 px wide, no sideways scrolling, closed or open.
        page = await open_signin(browser, idp, CITIZEN_CLIENT, "fr", viewport={"width": 320, "height": 640})
        await no_horizontal_scroll(page, 320)
        await open_other_ways(page)
        await no_horizontal_scroll(page, 320)
        await page.context.close()

        # Keyboard only: Tab reaches the username, the password, then the submit button, in that order.
        page = await open_signin(browser, idp, CITIZEN_CLIENT, "fr")
        for _ in range(10):
            await page.keyboard.press("Tab")
            if await focused_id(page) == "username":
                break
        assert await focused_id(page) == "username", "Tab never reached the username field"
        await page.keyboard.press("Tab")
        assert await focused_id(page) == "password"
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.type === 'submit' && document.activeElement.textContent"
                                   ".trim()") == TEXTS["fr"]["password_button"]
        # …and the disclosure opens from the keyboard too.
        for _ in range(5):
            if await page.evaluate("document.activeElement.tagName") == "SUMMARY":
                break
            await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.tagName") == "SUMMARY"
        await page.keyboard.press("Enter")
        assert await page.locator("details.signin-others").evaluate("details => details.open")
        await page.context.close()

        page = await open_signin(browser, idp, CITIZEN_CLIENT, "fr", viewport=PHONE)
        await page.screenshot(path=str(screenshots / "signin-citizen-fr.png"), full_page=True)
        await open_other_ways(page)
        await page.screenshot(path=str(screenshots / "signin-citizen-fr-open.png"), full_page=True)
        await page.context.close()


async def test_professional_portal_page_shows_the_card_first(live_idp_factory: Any, browser: Any,
                                                             screenshots: Path, pki: GeneratedPki) -> None:
    async with signin_idp(live_idp_factory, **pki.env()) as idp:
        for lang, text in TEXTS.items():
            page = await open_signin(browser, idp, PRO_CLIENT, lang)
            await page_shape(page)

            # The card is the first method on the page, and its PIN field is there.
            first_method = page.locator("main .signin-method").first
            assert await first_method.get_attribute("data-cards") is not None
            primary = page.locator("section.signin-primary")
            assert await primary.locator("[data-cards]").count() == 1
            assert await primary.locator("#card-pin").is_visible()
            assert await primary.get_by_role("button", name=text["card_button"]).get_attribute("class") == "primary"
            assert await page.locator("#card-pin").count() == 1

            # Security key and password under "other ways", hidden until opened.
            others = page.locator("details.signin-others")
            assert await others.locator("summary").inner_text() == text["others"]
            assert not await others.evaluate("details => details.open")
            assert await others.locator("[data-passkeys]").count() == 1
            assert await others.locator("#password").count() == 1
            assert not await page.locator("#password").is_visible()
            assert await primary.locator("#password, [data-passkeys]").count() == 0

            # The card help disclosure; no citizen enrolment links.
            help_block = page.locator("details.signin-help")
            assert await help_block.locator("summary").inner_text() == text["card_help"]
            assert await page.locator("a[href='/enroll']").count() == 0

            await axe_closed_and_open(page)
            assert await others.get_by_role("button", name=text["key_button"]).is_visible()
            assert await others.get_by_role("button", name=text["password_button"]).is_visible()
            assert await page.locator("button.primary:visible").count() == 1
            await help_block.locator("summary").click()
            await check_accessibility(page)
            await page.context.close()

        page = await open_signin(browser, idp, PRO_CLIENT, "fr", viewport={"width": 320, "height": 640})
        await no_horizontal_scroll(page, 320)
        await page.context.close()

        page = await open_signin(browser, idp, PRO_CLIENT, "fr", viewport=PHONE)
        await page.screenshot(path=str(screenshots / "signin-professional-fr.png"), full_page=True)
        await open_other_ways(page)
        await page.locator("details.signin-help summary").click()
        await page.screenshot(path=str(screenshots / "signin-professional-fr-open.png"), full_page=True)
        await page.locator("details.signin-others").screenshot(path=str(screenshots / "signin-professional-others.png"))
        await page.context.close()


async def test_eidas3_never_offers_password_alone(live_idp_factory: Any, browser: Any, pki: GeneratedPki) -> None:
    async with signin_idp(live_idp_factory, **pki.env()) as idp:
        for client_id, client_name in ((CITIZEN_CLIENT, "Portail patient"), (PRO_CLIENT, "Portail professionnel")):
            for lang, text in TEXTS.items():
                page = await open_signin(browser, idp, client_id, lang, acr_values="eidas3")
                await page_shape(page)
                if await page.locator("details.signin-others").count():
                    await open_other_ways(page)
                assert await page.locator("#password, input[type=password][name=password]").count() == 0
                assert await page.get_by_role("button", name=text["password_button"]).count() == 0
                assert await page.locator("form[action$='/login']").count() == 0
                await check_accessibility(page)

                # A password posted anyway (an old tab, a script) is refused before it is even checked.
                uid = page.url.rsplit("/interaction/", 1)[1].split("?")[0].split("/")[0]
                csrf = await page.locator("form.cancel input[name=csrf_token]").get_attribute("value")
                response = await page.request.post(f"{idp.issuer}/interaction/{uid}/login", form={
                    "csrf_token": csrf or "", "username": "alice", "password": PASSWORD})
                assert response.status == 400
                assert text["too_weak"].format(client=client_name) in html.unescape(await response.text())
                await page.context.close()

        # eidas2 for a citizen: the password stays, and says a security key comes next, before anything is typed.
        for lang, text in TEXTS.items():
            page = await open_signin(browser, idp, CITIZEN_CLIENT, lang, acr_values="eidas2")
            await page_shape(page)
            notice = page.locator("section.signin-primary #pwd-step-up")
            assert await notice.is_visible()
            assert await notice.inner_text() == text["step_up"]
            assert await page.locator("section.signin-primary #password").is_visible()
            await axe_closed_and_open(page)
            await page.context.close()

        # Each refused post was audited, and no password was ever checked for these requests.
        await idp.container.audit.flush()
        async with idp.container.db.session() as session:
            tags = list(await session.scalars(
                select(AuditEvent.tag).where(AuditEvent.tag.startswith("accounts:login:"))))
        assert tags == ["accounts:login:method_not_offered"] * 4, tags
