"""Real browser: Chromium on the login page, the card agent (uvicorn on 127.0.0.1) and a virtual card over PC/SC.

Demo portal → Mandat login page (axe-checked) → PIN typed in the page → "Carte CPS" → agent signs the challenge
with the card → consent → the portal's claims page shows acr eidas3 and the PSC claims. The sign-in itself
runs under the real CSP (script-src 'self', connect-src loopback); only the axe check bypasses it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn

from idp.cards.agent import PcscReader, create_agent_app
from idp.cards.testpki import DEMO_PROFESSIONALS, GeneratedPki
from idp.demo.portal import create_portal
from tests.conftest import free_port
from tests.e2e.conftest import check_accessibility, serve

from .conftest import PIN, READER, InsertCard, card_idp

pytestmark = [pytest.mark.pcsc, pytest.mark.browser]

VALID = DEMO_PROFESSIONALS[0]


class AgentServer:
    """The agent as `card-agent` runs it: uvicorn on a loopback port, in a thread (its PC/SC calls block)."""

    def __init__(self, origin: str, port: int) -> None:
        app = create_agent_app(origin, reader=PcscReader(READER), port=port)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> AgentServer:
        self.thread.start()
        while not self.server.started:
            threading.Event().wait(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@pytest.fixture()
def agent_port(pcscd: None) -> Iterator[int]:
    yield free_port()


async def test_card_login_in_chromium(insert_card: InsertCard, live_idp_factory: Any, browser: Any,
                                      pki: GeneratedPki, agent_port: int) -> None:
    portal_port = free_port()
    portal_url = f"http://localhost:{portal_port}"
    async with card_idp(live_idp_factory, pki, redirect_uris=[f"{portal_url}/callback"],
                        MANDAT_CARDS_AGENT_PORT=str(agent_port)) as live:
        portal = create_portal(issuer=live.idp.issuer, client_id="rp", client_secret=live.client[1],
                               portal_url=portal_url)
        login_url = f"{portal_url}/login?acr=eidas3&scope={quote('openid profile scope_all')}"
        with AgentServer(live.idp.issuer, agent_port):
            async with serve(portal, portal_port, lifespan="off"):
                # Accessibility of the login page with the card method (bypass_csp only to inject axe-core).
                axe_context = await browser.new_context(locale="fr-FR", bypass_csp=True)
                axe_page = await axe_context.new_page()
                await axe_page.goto(login_url)
                await axe_page.wait_for_url(f"{live.idp.issuer}/interaction/*")
                await axe_page.get_by_role("heading", name="Avec votre carte CPS").wait_for()
                await check_accessibility(axe_page)
                await axe_context.close()

                context = await browser.new_context(locale="fr-FR")
                page = await context.new_page()
                await page.goto(login_url)
                await page.wait_for_url(f"{live.idp.issuer}/interaction/*")
                pin = page.get_by_label("Code PIN de la carte")
                button = page.get_by_role("button", name="Carte CPS")
                alert = page.locator("[data-card-error]")

                # No card in the reader yet: the agent says so, and so does the page, in plain words.
                await pin.fill(PIN)
                await button.click()
                await alert.wait_for(state="visible")
                assert await alert.inner_text() == "Insérez votre carte dans le lecteur, puis réessayez."
                card, _bridge = insert_card(VALID.national_id)

                # A wrong PIN is reported in plain words, with the tries left; the page stays usable.
                await pin.fill("0000")
                await button.click()
                await page.get_by_text("Code PIN incorrect").wait_for()
                assert await alert.inner_text() == "Code PIN incorrect : encore 2 essais."
                assert await pin.input_value() == ""  # the PIN does not linger in the page
                assert card.pin_tries_left == 2

                await pin.fill(PIN)
                await button.click()
                await page.get_by_role("button", name="Autoriser").click()
                await page.wait_for_url(f"{portal_url}/claims")
                id_claims = json.loads(await page.locator("#id-token-claims").inner_text())
                userinfo = json.loads(await page.locator("#userinfo").inner_text())
                assert id_claims["acr"] == "eidas3" and id_claims["amr"] == ["sc", "pin", "hwk", "mfa"]
                assert userinfo["SubjectNameID"] == VALID.national_id
                assert userinfo["SubjectOrganization"] == VALID.structure_name
                assert userinfo["authMode"] == "CARD"
                assert card.pin_tries_left == 3
                await context.close()
