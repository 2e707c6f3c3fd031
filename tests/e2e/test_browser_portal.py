"""Real browser: Chromium clicks through the demo portal → Mandat login → consent → claims page.

The portal is the demo relying party (Authlib's Starlette client); both run under uvicorn on 127.0.0.1 and
are opened as http://localhost. Pages are checked with axe-core (WCAG 2.1 AA) on the way.
"""

from __future__ import annotations

import json
from typing import Any

from idp.demo.portal import create_portal
from tests.conftest import PASSWORD, free_port
from tests.e2e.conftest import check_accessibility, serve


async def test_portal_login_consent_claims_in_chromium(live_idp_factory: Any, browser: Any) -> None:
    portal_port = free_port()
    portal_url = f"http://localhost:{portal_port}"
    async with live_idp_factory() as idp:
        created = await idp.container.clients.register(
            client_id="demo-portal", name="Portail patient", redirect_uris=[f"{portal_url}/callback"],
            post_logout_redirect_uris=[f"{portal_url}/"], scopes=["openid", "profile", "email"])
        await idp.container.accounts.create(username="alice", password=PASSWORD, given_name="Alice",
                                            family_name="Martin", email="alice@example.org")
        assert created.secret
        portal = create_portal(issuer=idp.issuer, client_id="demo-portal", client_secret=created.secret,
                               portal_url=portal_url)
        async with serve(portal, portal_port, lifespan="off"):
            # bypass_csp only so axe-core can be injected; the CSP itself is asserted in tests/unit/http.
            context = await browser.new_context(locale="fr-FR", bypass_csp=True)
            page = await context.new_page()
            await page.goto(f"{portal_url}/")
            await page.get_by_role("link", name="Se connecter avec Mandat").click()
            await page.wait_for_url(f"{idp.issuer}/interaction/*")
            assert await page.locator("h1").inner_text() == "Se connecter"
            await check_accessibility(page)
            await page.get_by_label("Identifiant ou numéro d'assurance maladie").fill("alice")
            await page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
            await page.get_by_role("button", name="Se connecter avec mon mot de passe").click()
            await page.wait_for_selector("text=Partager vos informations avec Portail patient ?")
            await check_accessibility(page)
            await page.get_by_role("button", name="Autoriser").click()
            await page.wait_for_url(f"{portal_url}/claims")
            id_claims = json.loads(await page.locator("#id-token-claims").inner_text())
            access_claims = json.loads(await page.locator("#access-token-claims").inner_text())
            userinfo = json.loads(await page.locator("#userinfo").inner_text())
            assert id_claims["iss"] == idp.issuer and id_claims["amr"] == ["pwd"]
            assert access_claims["client_id"] == "demo-portal"
            assert userinfo["given_name"] == "Alice" and userinfo["sub"] == id_claims["sub"]
            # Sign out through RP-initiated logout: back on the portal's home page, signed out.
            await page.get_by_role("link", name="Se déconnecter").click()
            await page.wait_for_url(f"{portal_url}/")
            assert await page.get_by_role("link", name="Se connecter avec Mandat").is_visible()
