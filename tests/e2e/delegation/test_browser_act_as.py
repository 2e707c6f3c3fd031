"""Real browser: a Québec parent signs in on the demo portal, picks her child on the "act as" page and the portal
shows the child's claims with `act`; once the clock passes the child's 14th birthday, the child is no longer
offered (the guardian delegation lapses by itself, at use, even though no job ran). axe-core checks the page in
French and English.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from idp.delegation.service import DelegationService
from idp.demo.portal import create_portal
from idp.enrollment.models import RegistryLink, RegistryRecord
from tests.conftest import PASSWORD, free_port
from tests.e2e.conftest import check_accessibility, serve

PARENT_NUMBER, CHILD_NUMBER = "TREM85551201", "TREL13080301"


def years_before(day: date, years: int) -> date:
    return day.replace(year=day.year - years)


async def seed_family(idp: Any, child_born: date) -> None:
    container = idp.container
    async with container.db.transaction() as session:
        session.add(RegistryRecord(number=CHILD_NUMBER, kind="NAM", family_name="Tremblay", given_names="Léo",
                                   birth_date=child_born, sex="M", address_line1="12 rue des Érables",
                                   postal_code="H2X 1Y4", city="Montréal", country="CA", row_hash="c" * 64))
        session.add(RegistryLink(child_number=CHILD_NUMBER, parent_number=PARENT_NUMBER))
    await container.accounts.create(username=PARENT_NUMBER, password=PASSWORD, given_name="Émilie",
                                    family_name="Tremblay", national_id=PARENT_NUMBER)
    summary = await container.service(DelegationService).sync_guardians()
    assert summary.created == 1


async def sign_in(page: Any, portal_url: str, idp: Any) -> None:
    await page.goto(f"{portal_url}/")
    await page.get_by_role("link", name="Se connecter avec Mandat").click()
    await page.wait_for_url(f"{idp.issuer}/interaction/*")
    await page.get_by_label("Identifiant ou numéro d'assurance maladie").fill(PARENT_NUMBER)
    await page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter avec mon mot de passe").click()


async def test_parent_acts_for_her_child_until_his_14th_birthday(live_idp_factory: Any, browser: Any) -> None:
    portal_port = free_port()
    portal_url = f"http://localhost:{portal_port}"
    today = datetime.now(UTC).date()
    born = years_before(today, 14) + timedelta(days=30)  # 14 in a month
    async with live_idp_factory(MANDAT_JURISDICTION="qc") as idp:
        created = await idp.container.clients.register(
            client_id="demo-portal", name="Portail patient", redirect_uris=[f"{portal_url}/callback"],
            post_logout_redirect_uris=[f"{portal_url}/"], scopes=["openid", "profile", "appointments.manage"])
        assert created.secret
        await seed_family(idp, born)
        portal = create_portal(issuer=idp.issuer, client_id="demo-portal", client_secret=created.secret,
                               portal_url=portal_url, scope="openid profile appointments.manage")
        async with serve(portal, portal_port, lifespan="off"):
            context = await browser.new_context(locale="fr-FR", bypass_csp=True)
            page = await context.new_page()
            await sign_in(page, portal_url, idp)
            await page.wait_for_selector("h1:text('Pour qui agissez-vous ?')")
            await check_accessibility(page)
            english = await context.new_page()
            await english.goto(page.url + "?lang=en")
            assert await english.locator("h1").inner_text() == "Who are you acting for?"
            await check_accessibility(english)
            await english.goto(page.url.split("?")[0] + "?lang=fr")  # the language cookie back to French
            await english.close()
            await page.get_by_label("Léo Tremblay").check()
            await page.get_by_role("button", name="Continuer").click()
            await page.wait_for_selector("text=Vous agissez pour Léo Tremblay")
            await check_accessibility(page)
            await page.get_by_role("button", name="Autoriser").click()
            await page.wait_for_url(f"{portal_url}/claims")
            userinfo = json.loads(await page.locator("#userinfo").inner_text())
            id_claims = json.loads(await page.locator("#id-token-claims").inner_text())
            assert userinfo["given_name"] == "Léo" and userinfo["family_name"] == "Tremblay"
            assert userinfo["act"] == {"sub": id_claims["sub"]}  # the parent acts
            assert id_claims["delegation"]["kind"] == "guardian"
            assert id_claims["delegation"]["principal"]["given_name"] == "Léo"
            await context.close()

            # The clock moves past the 14th birthday (Québec: the teenager now decides): no more "act as".
            service = idp.container.service(DelegationService)
            birthday = born.replace(year=born.year + 14)
            service.clock = lambda: datetime.combine(birthday + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
            context = await browser.new_context(locale="fr-FR", bypass_csp=True)
            page = await context.new_page()
            await sign_in(page, portal_url, idp)
            await page.wait_for_url(f"{portal_url}/claims")  # no act-as page, consent remembered
            userinfo = json.loads(await page.locator("#userinfo").inner_text())
            assert userinfo["given_name"] == "Émilie" and "act" not in userinfo
            await context.close()
