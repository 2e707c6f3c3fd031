"""The demo delegation end to end: `make run`'s seeding, the demo portal's professional space and a live IdP, with
httpx as the browser (real forms, CSRF tokens, cookies, redirects).

The demo secretary signs in on the professional space, picks "act as" the demo doctor on the IdP's page, and the
portal shows `act`, the `delegation` claim and the narrowed scopes. The doctor revokes the delegation: the next
introspection of that access token (with the portal client's credentials) is inactive, the portal's own
introspection says so too, and the portal's refresh is refused with `invalid_grant`.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from rich.console import Console

from idp.cards import demo as cards_demo
from idp.delegation.demo import ASSISTANT_SCOPES, DEMO_DOCTOR, DEMO_SECRETARY
from idp.delegation.interfaces import Actor, DelegationFilter
from idp.delegation.service import DelegationService
from idp.demo.portal import PRO_SCOPE, create_portals
from idp.demo.seed import DEMO_PASSWORD, PORTAL_CLIENT_ID, PRO_PORTAL_CLIENT_ID, portal_secret_path, seed
from idp.oidc.minting import subject_for
from tests.conftest import form_field, free_port, make_settings
from tests.e2e.conftest import serve


def element(page: str, ident: str) -> str:
    """The text inside the element with this id (the portal's pages are flat: no nesting of the same tag)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{ident}"[^>]*>(.*?)</\1>', page, re.S)
    assert found, f"no #{ident} in page:\n{page}"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(2)))


class Browser:
    """One person's browser: a cookie jar shared by the portal and the IdP, redirects followed by hand so each
    page is seen."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.url = ""

    async def go(self, response: httpx.Response) -> httpx.Response:
        for _ in range(10):
            self.url = str(response.url)
            if response.status_code not in (302, 303):
                return response
            response = await self.http.get(urljoin(self.url, response.headers["location"]))
        raise AssertionError("too many redirects")

    async def get(self, url: str) -> httpx.Response:
        return await self.go(await self.http.get(urljoin(self.url, url)))

    async def post(self, action: str, data: dict[str, str]) -> httpx.Response:
        return await self.go(await self.http.post(urljoin(self.url, action), data=data))


def form_action(page: str, step: str) -> str:
    """The action of the IdP interaction form for this step (login, act, consent)."""
    found = re.search(rf'action="(/interaction/[^"]+/{step})"', page)
    assert found, f"no {step} form in page:\n{page}"
    return found.group(1)


def act_as_choice(page: str, name: str) -> str:
    """The value of the radio button whose label names `name` on the IdP's "act as" page."""
    for ident, value in re.findall(r'<input type="radio" id="([^"]+)" name="acting_for" value="([^"]+)"', page):
        label = re.search(rf'<label for="{ident}">(.*?)</label>', page, re.S)
        if label and name in html.unescape(label.group(1)):
            return str(value)
    raise AssertionError(f"{name} is not offered on the act-as page:\n{page}")


async def test_secretary_acts_for_the_doctor_until_the_doctor_revokes(
        live_idp_factory: Any, tmp_path: Path) -> None:
    quiet = Console(quiet=True)
    # `make run`'s card set-up: the demo test PKI under the keys folder (the live IdP uses tmp_path/keys too).
    card_env = cards_demo.demo_env(make_settings(tmp_path, "sqlite+aiosqlite://"), quiet)
    assert card_env
    portal_port = free_port()
    portal_url = f"http://localhost:{portal_port}"
    async with live_idp_factory(MANDAT_DEMO="true", **card_env) as idp:
        assert await seed(idp.settings, console=quiet, portal_url=portal_url)
        secrets = {client_id: Path(portal_secret_path(idp.settings, client_id)).read_text().strip()
                   for client_id in (PORTAL_CLIENT_ID, PRO_PORTAL_CLIENT_ID)}
        container = idp.container
        doctor = await container.accounts.by_username(DEMO_DOCTOR.national_id)
        secretary = await container.accounts.by_username(DEMO_SECRETARY["username"])
        assert doctor is not None and secretary is not None
        pro_client = await container.clients.get(PRO_PORTAL_CLIENT_ID)
        assert pro_client is not None
        portal = create_portals(issuer=idp.issuer, portal_url=portal_url,
                                patient=(PORTAL_CLIENT_ID, secrets[PORTAL_CLIENT_ID]),
                                professional=(PRO_PORTAL_CLIENT_ID, secrets[PRO_PORTAL_CLIENT_ID]))
        async with serve(portal, portal_port, lifespan="off"), httpx.AsyncClient(timeout=30) as http:
            browser = Browser(http)
            home = await browser.get(f"{portal_url}/pro/")
            login_link = re.search(r'<a class="button" href="([^"]+)">Se connecter avec Mandat</a>', home.text)
            assert login_link, home.text
            page = await browser.get(html.unescape(login_link.group(1)))
            assert browser.url.startswith(f"{idp.issuer}/interaction/"), browser.url

            # The professional sign-in page (card first); the secretary uses her password, under "other ways".
            page = await browser.post(form_action(page.text, "login"), data={
                "csrf_token": form_field(page.text, "csrf_token"), "username": DEMO_SECRETARY["username"],
                "password": DEMO_PASSWORD})
            assert "Pour qui agissez-vous ?" in page.text, page.text
            doctor_name = f"{DEMO_DOCTOR.given_name} {DEMO_DOCTOR.family_name}"
            choice = act_as_choice(page.text, doctor_name)
            page = await browser.post(form_action(page.text, "act"),
                                      data={"csrf_token": form_field(page.text, "csrf_token"), "acting_for": choice})
            # Consent, under the IdP's "acting for" banner.
            assert f"Vous agissez pour {doctor_name}" in html.unescape(page.text), page.text
            page = await browser.post(form_action(page.text, "consent"),
                                      data={"csrf_token": form_field(page.text, "csrf_token"), "decision": "allow"})
            assert browser.url == f"{portal_url}/pro/claims", (browser.url, page.text)

            # The portal: whom she acts for, `act`, the delegation claim and the narrowed scopes.
            assert element(page.text, "acting-for") == f"Vous agissez pour {doctor_name}"
            secretary_sub = subject_for(container.provider, pro_client, secretary.id)
            doctor_sub = subject_for(container.provider, pro_client, doctor.id)
            assert json.loads(element(page.text, "act")) == {"sub": secretary_sub}
            id_claims = json.loads(element(page.text, "id-token-claims"))
            access = json.loads(element(page.text, "access-token-claims"))
            userinfo = json.loads(element(page.text, "userinfo"))
            assert id_claims["sub"] == secretary_sub
            assert id_claims["delegation"]["kind"] == "assistant"
            assert id_claims["delegation"]["principal"] == {
                "sub": doctor_sub, "given_name": DEMO_DOCTOR.given_name, "family_name": DEMO_DOCTOR.family_name}
            assert set(id_claims["delegation"]["scopes"]) == set(ASSISTANT_SCOPES)
            assert access["sub"] == doctor_sub and access["act"] == {"sub": secretary_sub}
            assert userinfo["sub"] == doctor_sub and userinfo["act"] == {"sub": secretary_sub}
            assert element(page.text, "requested-scope").split() == PRO_SCOPE.split()
            granted = element(page.text, "granted-scope").split()
            # Reduced: the professional-only `scope_all` and the secretary's own `delegations` are gone.
            assert set(granted) == {"openid", "offline_access", *ASSISTANT_SCOPES}
            assert set(element(page.text, "removed-scope").split()) == {"scope_all", "delegations"}
            assert access["scope"].split() == granted
            delegation_id = element(page.text, "delegation-id")
            assert access["delegation_id"] == delegation_id
            assert f'href="{idp.issuer}/account/delegations"' in page.text

            # The portal's own switcher (from the `delegations` claim): back to herself through the IdP's page,
            # then for the doctor again with `on_behalf_of` (no page: the choice is made, consent remembered).
            page = await browser.get(f"{portal_url}/pro/login")
            assert "Pour qui agissez-vous ?" in page.text, page.text
            page = await browser.post(form_action(page.text, "act"),
                                      data={"csrf_token": form_field(page.text, "csrf_token"), "acting_for": "myself"})
            assert browser.url == f"{portal_url}/pro/claims", (browser.url, page.text)
            assert element(page.text, "acting-for") == "Vous agissez pour vous-même."
            assert "act" not in json.loads(element(page.text, "userinfo"))
            switch = re.search(r'<a href="([^"]+)">Agir pour ' + re.escape(doctor_name) + "</a>", page.text)
            assert switch, page.text
            assert f"on_behalf_of={doctor_sub}" in html.unescape(switch.group(1))
            page = await browser.get(html.unescape(switch.group(1)))
            assert browser.url == f"{portal_url}/pro/claims", (browser.url, page.text)
            assert element(page.text, "acting-for") == f"Vous agissez pour {doctor_name}"
            assert element(page.text, "delegation-id") == delegation_id
            access_token = element(page.text, "access-token")

            async def introspect() -> dict[str, Any]:
                answer = await http.post(f"{idp.issuer}/token/introspect", data={"token": access_token},
                                         auth=(PRO_PORTAL_CLIENT_ID, secrets[PRO_PORTAL_CLIENT_ID]))
                assert answer.status_code == 200, answer.text
                body: dict[str, Any] = answer.json()
                return body

            before = await introspect()
            assert before["active"] is True
            assert before["act"] == {"sub": secretary_sub} and before["delegation_id"] == delegation_id

            # The doctor revokes (the service her /account/delegations page calls).
            delegations = container.service(DelegationService)
            [view] = await delegations.find(DelegationFilter(principal_id=doctor.id, delegate_id=secretary.id))
            assert view.id == delegation_id and view.context == DEMO_DOCTOR.structure
            await delegations.revoke(delegation_id, Actor.person(doctor.id), "fin du remplacement")

            assert await introspect() == {"active": False}
            csrf = form_field(page.text, "csrf")
            page = await browser.post(f"{portal_url}/pro/introspect", data={"csrf": csrf})
            assert json.loads(element(page.text, "introspection")) == {"active": False}
            refused = await browser.post(f"{portal_url}/pro/refresh", data={"csrf": csrf})
            assert refused.status_code == 400
            assert element(refused.text, "refresh-error").startswith("invalid_grant")
            assert "delegation_revoked" in element(refused.text, "refresh-error")
