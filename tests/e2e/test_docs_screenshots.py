"""The documentation's screenshots (docs/img/), taken in Chromium through the real pages, in French and English.

One scenario per language on a fresh live IdP, with the integration guide's example portal as the relying party:
enrolment, the citizen and the professional sign-in pages, consent, the "act as" page, the portal showing whom
the person acts for, and the principal's delegation pages ("who acted for me" lists what the delegate just did).
Each step also checks what the page must show, so a screenshot is never of an error page.

The PNGs go to $MANDAT_DOCS_SCREENSHOTS when set (`make docs-screenshots` sets docs/img), else to a temporary
folder; either way every screenshot the documentation uses must be taken here (test below), and
tests/unit/test_docs.py checks that each one is committed and referenced.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from idp.cards.testpki import GeneratedPki, make_test_pki
from idp.delegation.interfaces import Actor, DelegationRequest
from idp.delegation.service import DelegationService
from tests.conftest import PASSWORD, free_port
from tests.e2e.conftest import serve

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "portal_example.py"
LOCALES = {"fr": "fr-FR", "en": "en-GB"}
VIEWPORT = {"width": 900, "height": 760}
# Every screenshot the documentation shows, per language ("<name>-<lang>.png"), plus the example portal (English).
SHOTS = ("enrol", "signin-citizen", "signin-professional", "consent", "act-as", "delegations", "who-acted-for-me")
EXAMPLE_SHOT = "example-portal-acting"
TEXTS = {
    "fr": {"consent": "Autoriser", "act_as": "Pour qui agissez-vous ?", "history": "Alice",
           "enrol": "Créer votre compte"},
    "en": {"consent": "Allow", "act_as": "Who are you acting for?", "history": "Alice",
           "enrol": "Create your account"},
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> GeneratedPki:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


def shots_folder(tmp_path: Path) -> Path:
    configured = os.environ.get("MANDAT_DOCS_SCREENSHOTS")
    folder = (ROOT / configured if not Path(configured).is_absolute() else Path(configured)) if configured \
        else tmp_path / "img"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def example_portal() -> Any:
    spec = importlib.util.spec_from_file_location("portal_example_for_screenshots", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def shot(page: Page, folder: Path, name: str, lang: str | None, taken: list[str]) -> None:
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(folder / (f"{name}-{lang}.png" if lang else f"{name}.png")), full_page=True)
    taken.append(name)


async def sign_in_on_page(page: Page, username: str) -> None:
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("form[action$='/login'] button[type=submit]").first.click()


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_documentation_screenshots(lang: str, live_idp_factory: Callable[..., Any], browser: Any,
                                         pki: GeneratedPki, tmp_path: Path) -> None:
    folder = shots_folder(tmp_path)
    taken: list[str] = []
    texts = TEXTS[lang]
    portal_port = free_port()
    portal_url = f"http://localhost:{portal_port}"
    scope = "openid profile appointments.manage"
    async with live_idp_factory(**pki.env()) as idp:
        container = idp.container
        patient = await container.clients.register(
            client_id="portail-patient", name="Portail patient", redirect_uris=[f"{portal_url}/callback"],
            post_logout_redirect_uris=[f"{portal_url}/"], scopes=scope.split(), audiences=["citizen"])
        await container.clients.register(
            client_id="portail-pro", name="Espace professionnel", redirect_uris=[f"{portal_url}/pro/callback"],
            post_logout_redirect_uris=[], scopes=["openid", "profile"], audiences=["professional"])
        alice = await container.accounts.create(username="alice", password=PASSWORD, given_name="Alice",
                                                family_name="Martin")
        bob = await container.accounts.create(username="bob", password=PASSWORD, given_name="Bob",
                                              family_name="Durand")
        await container.service(DelegationService).create(
            DelegationRequest(kind="proxy", principal_id=alice.id, delegate_id=bob.id,
                              scopes=("openid", "profile", "appointments.manage"), reason="documentation"),
            Actor.administrator("docs"))
        example = example_portal()
        portal = example.create_app(issuer=idp.issuer, client_id="portail-patient", client_secret=patient.secret,
                                    portal_url=portal_url, scope=scope)
        pro_portal = example.create_app(issuer=idp.issuer, client_id="portail-pro", client_secret="unused",
                                        portal_url=f"{portal_url}/pro")
        from starlette.routing import Mount

        portal.router.routes.insert(0, Mount("/pro", app=pro_portal))
        async with serve(portal, portal_port, lifespan="off"):
            # Enrolment, and the two sign-in pages as each audience's portal opens them.
            context = await browser.new_context(locale=LOCALES[lang], viewport=VIEWPORT)
            page = await context.new_page()
            await page.goto(f"{idp.issuer}/enroll")
            assert texts["enrol"] in await page.locator("h1").inner_text()
            await shot(page, folder, "enrol", lang, taken)
            await page.goto(f"{portal_url}/pro/login")
            await page.wait_for_url(f"{idp.issuer}/interaction/*")
            assert "CPS" in await page.locator("section.signin-primary").inner_text()  # the card first
            await shot(page, folder, "signin-professional", lang, taken)
            await page.goto(f"{portal_url}/login")
            await page.wait_for_url(f"{idp.issuer}/interaction/*")
            assert await page.locator("section.signin-primary #password").is_visible()  # the password first
            await shot(page, folder, "signin-citizen", lang, taken)
            # Alice signs in and consents.
            await sign_in_on_page(page, "alice")
            await page.get_by_role("button", name=texts["consent"]).wait_for()
            await shot(page, folder, "consent", lang, taken)
            await page.get_by_role("button", name=texts["consent"]).click()
            await page.wait_for_url(f"{portal_url}/")
            assert "Alice Martin" in await page.locator("#who").inner_text()
            await context.close()

            # Bob acts for Alice: the "act as" page, then the portal says for whom.
            context = await browser.new_context(locale=LOCALES[lang], viewport=VIEWPORT)
            page = await context.new_page()
            await page.goto(f"{portal_url}/login")
            await page.wait_for_url(f"{idp.issuer}/interaction/*")
            await sign_in_on_page(page, "bob")
            await page.locator("h1", has_text=texts["act_as"]).wait_for()
            await shot(page, folder, "act-as", lang, taken)
            await page.get_by_label("Alice Martin").check()
            await page.locator("form[action$='/act'] button[type=submit]").click()
            await page.get_by_role("button", name=texts["consent"]).click()
            await page.wait_for_url(f"{portal_url}/")
            assert "Alice Martin" in await page.locator("#acting").inner_text()
            if lang == "en":  # the example portal speaks English only
                await page.set_viewport_size({"width": 900, "height": 240})
                await shot(page, folder, EXAMPLE_SHOT, None, taken)
            await context.close()

        # Alice's own delegation pages: what she gave, and who acted for her.
        await container.audit.flush()
        context = await browser.new_context(locale=LOCALES[lang], viewport=VIEWPORT)
        page = await context.new_page()
        await page.goto(f"{idp.issuer}/account/login?next=/account/delegations")
        await sign_in_on_page(page, "alice")
        await page.wait_for_url(f"{idp.issuer}/account/delegations")
        assert "Bob Durand" in await page.locator("main").inner_text()
        await shot(page, folder, "delegations", lang, taken)
        await page.goto(f"{idp.issuer}/account/delegations/history")
        assert "Bob Durand" in await page.locator("main").inner_text()
        await shot(page, folder, "who-acted-for-me", lang, taken)
        await context.close()
    assert sorted(taken) == sorted(SHOTS + ((EXAMPLE_SHOT,) if lang == "en" else ()))
