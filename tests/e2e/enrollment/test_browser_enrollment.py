"""Real browser: a citizen requests a code on /enroll, reads it in the demo outbox, activates on /activate, then
signs in to the demo portal (Authlib) which shows `verified_claims`.

Both servers run under uvicorn on 127.0.0.1, opened as http://localhost. The forms are checked with axe-core
(WCAG 2.1 AA), blank and with their error summary. `bypass_csp` is only for injecting axe; a second context
without it checks that the password hint script runs under the real CSP (`script-src 'self'`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from playwright.async_api import expect
from rich.console import Console

from idp.demo.portal import create_portal
from idp.enrollment.demo import DEMO_CITIZEN, seed_demo
from tests.conftest import free_port
from tests.e2e.conftest import check_accessibility, serve

NIR = DEMO_CITIZEN["number"]
PASSWORD = "violet kayak under nine moons"


async def fill_request_form(page: Any) -> None:
    await page.get_by_label("Numéro d'assurance maladie").fill("1 85 04 75 111 123 71")
    await page.get_by_label("Nom de famille").fill("DUPONT LEFEVRE")
    await page.get_by_label("Premier prénom").fill("jean")
    await page.locator("#birth_day").fill("12")
    await page.locator("#birth_month").fill("4")
    await page.locator("#birth_year").fill("1985")
    await page.get_by_label("Numéro de série de la carte").fill("01")
    await page.locator("#expiry_month").fill("06")
    await page.locator("#expiry_year").fill("2030")


async def test_enrol_activate_and_sign_in_to_the_portal_in_chromium(live_idp_factory: Any, browser: Any) -> None:
    portal_port = free_port()
    portal_url = f"http://localhost:{portal_port}"
    async with live_idp_factory(MANDAT_DEMO="true") as idp:
        await seed_demo(idp.container, Console(stderr=True, quiet=True))
        created = await idp.container.clients.register(
            client_id="demo-portal", name="Portail patient", redirect_uris=[f"{portal_url}/callback"],
            post_logout_redirect_uris=[f"{portal_url}/"],
            scopes=["openid", "profile", "identite_pivot", "health_insurance"])
        assert created.secret
        portal = create_portal(issuer=idp.issuer, client_id="demo-portal", client_secret=created.secret,
                               portal_url=portal_url, scope="openid profile identite_pivot")
        async with serve(portal, portal_port, lifespan="off"):
            context = await browser.new_context(locale="fr-FR", bypass_csp=True)
            page = await context.new_page()

            # 1. Request a code.
            await page.goto(f"{idp.issuer}/enroll")
            assert await page.locator("h1").inner_text() == "Créer votre compte"
            await check_accessibility(page)
            await page.get_by_role("button", name="Recevoir un code de sécurité par courrier").click()
            await page.wait_for_selector("#error-summary")
            assert await page.locator("#number").get_attribute("aria-invalid") == "true"
            await check_accessibility(page)  # the error state too
            await fill_request_form(page)
            await page.get_by_role("button", name="Recevoir un code de sécurité par courrier").click()
            await page.wait_for_url(f"{idp.issuer}/enroll/requested")
            assert "Si ces informations correspondent à notre fichier" in await page.locator("main").inner_text()

            # 2. The letter, in the demo outbox.
            await page.get_by_role("link", name="Voir les courriers en attente").click()
            await page.wait_for_url(f"{idp.issuer}/demo/outbox")
            row = page.locator(f"tr:has(td[data-number]:text-is('{NIR}'))").first
            code = (await row.locator("[data-code]").inner_text()).strip()
            assert len(code) == 16

            # 3. Activate.
            await page.get_by_role("link", name="Aller à la page d'activation").click()
            await page.wait_for_url(f"{idp.issuer}/activate")
            await check_accessibility(page)
            await page.get_by_label("Numéro d'assurance maladie").fill(NIR)
            await page.get_by_label("Code de sécurité").fill(code.lower())
            await page.get_by_label("Nouveau mot de passe").fill(PASSWORD)
            await page.get_by_role("button", name="Activer mon compte").click()
            await page.wait_for_url(f"{idp.issuer}/activate/done")
            assert await page.locator("h1").inner_text() == "Votre compte est prêt"
            assert await page.get_by_role("link", name="Ajouter une clé d'accès maintenant").get_attribute(
                "href") == "/account/passkeys/new"

            # 4. Signed in already: the portal asks for the pivot identity and verified_claims.
            claims = json.dumps({"userinfo": {"verified_claims": None}, "id_token": {"verified_claims": None}})
            await page.goto(f"{portal_url}/login?{urlencode({'claims': claims})}")
            await page.wait_for_url(f"{idp.issuer}/interaction/*")
            await check_accessibility(page)
            await page.get_by_role("button", name="Autoriser").click()
            await page.wait_for_url(f"{portal_url}/claims")
            userinfo = json.loads(await page.locator("#userinfo").inner_text())
            id_claims = json.loads(await page.locator("#id-token-claims").inner_text())
            assert userinfo["family_name"] == "Dupont-Lefèvre" and userinfo["birthplace"] == "75111"
            assert userinfo["verified_claims"]["verification"]["trust_framework"] == "fr_ins"
            assert userinfo["verified_claims"]["claims"]["birthdate"] == "1985-04-12"
            assert id_claims["verified_claims"] == userinfo["verified_claims"]
            assert "health_insurance_number" not in userinfo  # the portal did not ask for that scope
            await context.close()


async def test_password_hint_script_runs_under_the_real_csp(live_idp_factory: Any, browser: Any) -> None:
    async with live_idp_factory() as idp:
        context = await browser.new_context(locale="en-GB")
        page = await context.new_page()
        blocked: list[str] = []
        page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text
                else None)
        await page.goto(f"{idp.issuer}/activate")
        password = page.get_by_label("New password")
        await password.fill("short")
        hint = page.locator("#password-strength")
        await expect(hint).to_have_text("5 characters: at least 12 needed")
        await password.fill(PASSWORD)
        await expect(hint).to_have_text("Strength: strong")
        await page.get_by_label("Show the password").check()
        assert await password.get_attribute("type") == "text"
        assert blocked == []
        await context.close()
