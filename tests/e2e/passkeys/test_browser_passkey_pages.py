"""Passkeys through Mandat's own pages, in real Chromium with a CDP virtual authenticator (ctap2, resident keys,
user verification): /account registration and removal, passwordless sign-in through the demo portal, refusals
shown on the page. The flow runs with the CSP enforced (so passkeys.js must work without inline script); axe-core
runs in a second context that bypasses the CSP only to inject itself, with the first one's cookies.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page
from sqlalchemy import select

from idp.audit import AuditEvent
from idp.demo.portal import create_portal
from tests.conftest import PASSWORD, free_port
from tests.e2e.conftest import check_accessibility, open_other_ways, serve
from tests.e2e.passkeys.browser import add_virtual_authenticator

pytestmark = pytest.mark.browser

SIGN_IN_WITH_KEY = "Se connecter avec une clé de sécurité ou une clé d'accès"
# A key added from a password-only session is bound at eidas1: it does not count as a second factor.
ADDED_ONE_FACTOR = ("Votre clé de sécurité a été ajoutée. Comme elle l'a été après une connexion par mot de passe "
                    "seul, elle ne compte pas comme second facteur.")
NOT_SECOND_FACTOR = "Non : elle a été ajoutée après une connexion par mot de passe seul"


@asynccontextmanager
async def portal_and_idp(live_idp_factory: Any) -> AsyncIterator[tuple[Any, str]]:
    portal_port = free_port()
    portal_url = f"http://localhost:{portal_port}"
    async with live_idp_factory() as idp:
        created = await idp.container.clients.register(
            client_id="demo-portal", name="Portail patient", redirect_uris=[f"{portal_url}/callback"],
            post_logout_redirect_uris=[f"{portal_url}/"], scopes=["openid", "profile", "email"])
        assert created.secret
        portal = create_portal(issuer=idp.issuer, client_id="demo-portal", client_secret=created.secret,
                               portal_url=portal_url)
        async with serve(portal, portal_port, lifespan="off"):
            yield idp, portal_url


async def axe_on(browser: Any, context: BrowserContext, url: str) -> None:
    """axe-core on `url` as the person in `context` sees it (same cookies), in a CSP-bypassing context."""
    checker = await browser.new_context(locale="fr-FR", bypass_csp=True)
    try:
        await checker.add_cookies(await context.cookies())  # type: ignore[arg-type]
        page = await checker.new_page()
        await page.goto(url)
        await check_accessibility(page)
    finally:
        await checker.close()


async def password_sign_in_on_account(page: Page, issuer: str, username: str) -> None:
    await page.goto(f"{issuer}/account")
    await page.wait_for_url(f"{issuer}/account/login?next=/account")
    await page.get_by_label("Identifiant ou numéro d'assurance maladie").fill(username)
    await page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    await page.locator("form[action='/account/login'] button[type=submit]").click()
    await page.wait_for_url(f"{issuer}/account")


async def register_key(page: Page, issuer: str, name: str) -> None:
    await page.get_by_role("link", name="Ajouter une clé de sécurité ou une clé d'accès").click()
    await page.wait_for_url(f"{issuer}/account/passkeys/new")
    await page.get_by_label("Nom de la clé").fill(name)
    await page.get_by_role("button", name="Ajouter cette clé").click()
    await page.wait_for_url(f"{issuer}/account?done=registered_one_factor")


async def tags(idp: Any) -> list[str]:
    await idp.container.audit.flush()
    async with idp.container.db.session() as session:
        return list(await session.scalars(select(AuditEvent.tag).order_by(AuditEvent.id)))


async def test_register_then_passwordless_through_the_portal_then_remove(live_idp_factory: Any, browser: Any) -> None:
    async with portal_and_idp(live_idp_factory) as (idp, portal_url):
        await idp.container.accounts.create(username="alice", password=PASSWORD, given_name="Alice",
                                            family_name="Martin", email="alice@example.org")
        context = await browser.new_context(locale="fr-FR")
        page = await context.new_page()
        errors: list[str] = []
        # Script errors and CSP violations (not "failed to load": the favicon, the refused sign-in's 400).
        page.on("console", lambda message: errors.append(message.text)
                if message.type == "error" and "Failed to load resource" not in message.text else None)
        page.on("pageerror", lambda error: errors.append(str(error)))

        # 1. Password sign-in on /account, then register a passkey with a chosen name: bound from a password-only
        #    session, it is graded eidas1 and the page says it does not count as a second factor.
        await password_sign_in_on_account(page, idp.issuer, "alice")
        await axe_on(browser, context, f"{idp.issuer}/account")
        key = await add_virtual_authenticator(page)
        await page.get_by_role("link", name="Ajouter une clé de sécurité ou une clé d'accès").click()
        await axe_on(browser, context, f"{idp.issuer}/account/passkeys/new")
        await page.get_by_label("Nom de la clé").fill("Clé bleue")
        await page.get_by_role("button", name="Ajouter cette clé").click()
        await page.wait_for_url(f"{idp.issuer}/account?done=registered_one_factor")
        assert await page.get_by_role("status").inner_text() == ADDED_ONE_FACTOR
        card = page.locator("li.card", has=page.get_by_role("heading", name="Clé bleue"))
        assert "Jamais" in await card.inner_text()  # never used yet
        assert NOT_SECOND_FACTOR in await card.inner_text()
        assert len(await key.credentials()) == 1
        await axe_on(browser, context, f"{idp.issuer}/account?done=registered_one_factor")

        # 2. Sign out of Mandat.
        await page.get_by_role("button", name="Se déconnecter").click()
        await page.wait_for_url(f"{idp.issuer}/account/login")

        # 3. Passwordless through the portal: no username, the discoverable passkey (under "other ways" for a
        #    citizen client) answers. The key was bound at eidas1, so the sign-in is eidas1 and never "mfa".
        await page.goto(f"{portal_url}/")
        await page.get_by_role("link", name="Se connecter avec Mandat").click()
        await page.wait_for_url(f"{idp.issuer}/interaction/*")
        await axe_on(browser, context, page.url)
        await open_other_ways(page)
        await page.get_by_role("button", name=SIGN_IN_WITH_KEY).click()
        await page.get_by_role("button", name="Autoriser").click()
        await page.wait_for_url(f"{portal_url}/claims")
        id_claims = json.loads(await page.locator("#id-token-claims").inner_text())
        assert "hwk" in id_claims["amr"] and "pwd" not in id_claims["amr"]
        assert id_claims["amr"] == ["hwk", "user"] and id_claims.get("acr", "eidas1") == "eidas1"

        # 4. Sign out through the portal (RP-initiated logout ends the passkey session), then on /account the
        #    key shows its use; remove it (the account keeps its password, so no last-key warning).
        await page.get_by_role("link", name="Se déconnecter").click()
        await page.wait_for_url(f"{portal_url}/")
        await password_sign_in_on_account(page, idp.issuer, "alice")
        card = page.locator("li.card", has=page.get_by_role("heading", name="Clé bleue"))
        assert "Jamais" not in await card.inner_text()
        await page.get_by_role("button", name="Supprimer « Clé bleue »").click()
        await page.wait_for_url(f"{idp.issuer}/account?done=removed")
        assert await page.get_by_text("Vous n'avez encore aucune clé de sécurité ni clé d'accès.").is_visible()
        await page.get_by_role("button", name="Se déconnecter").click()
        await page.wait_for_url(f"{idp.issuer}/account/login")

        # 5. The authenticator still holds the (now unknown) passkey: the page says so.
        await page.goto(f"{portal_url}/")
        await page.get_by_role("link", name="Se connecter avec Mandat").click()
        await page.wait_for_url(f"{idp.issuer}/interaction/*")
        await open_other_ways(page)
        await page.get_by_role("button", name=SIGN_IN_WITH_KEY).click()
        alert = page.locator("[data-passkey-error]")
        await alert.wait_for(state="visible")
        assert await alert.inner_text() == "Cette clé n'est enregistrée sur aucun compte."
        assert await alert.evaluate("element => element === document.activeElement")

        recorded = await tags(idp)
        for tag in ("passkeys:credential:registered", "passkeys:login:succeeded", "passkeys:credential:removed",
                    "passkeys:login:failed"):
            assert tag in recorded, (tag, recorded)
        assert not errors, errors
        await context.close()


async def test_professional_key_without_user_verification_is_refused_on_the_page(
    live_idp_factory: Any, browser: Any
) -> None:
    async with portal_and_idp(live_idp_factory) as (idp, portal_url):
        await idp.container.accounts.create(username="dr.martin", password=PASSWORD, given_name="Claire",
                                            family_name="Martin", kind="professional")
        context = await browser.new_context(locale="fr-FR")
        page = await context.new_page()
        await password_sign_in_on_account(page, idp.issuer, "dr.martin")
        key = await add_virtual_authenticator(page)
        await register_key(page, idp.issuer, "Clé du cabinet")
        await page.get_by_role("button", name="Se déconnecter").click()
        await page.wait_for_url(f"{idp.issuer}/account/login")

        # The key no longer verifies its user (no PIN, no biometrics): a professional may not sign in with it.
        await key.set_user_verified(False)
        await page.goto(f"{portal_url}/")
        await page.get_by_role("link", name="Se connecter avec Mandat").click()
        await page.wait_for_url(f"{idp.issuer}/interaction/*")
        await page.get_by_label("Identifiant ou numéro d'assurance maladie").fill("dr.martin")
        await open_other_ways(page)
        await page.get_by_role("button", name=SIGN_IN_WITH_KEY).click()
        alert = page.get_by_role("alert")
        await alert.wait_for(state="visible")
        assert await alert.inner_text() == (
            "Votre clé de sécurité doit vous vérifier (code PIN ou biométrie) pour cette connexion. "
            "Si vous avez annulé, réessayez.")
        assert "/interaction/" in page.url
        await check_no_session(context)
        await context.close()


async def check_no_session(context: BrowserContext) -> None:
    assert not [c for c in await context.cookies() if c["name"] == "mandat_session"]
