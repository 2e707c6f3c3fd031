"""The integration guide's Authlib example (docs/examples/portal_example.py), run as published against a live Mandat.

The portal runs under uvicorn like the IdP; an httpx client plays the person's browser (sign-in form, consent,
"act as" page) across both. Covered: a sign-in with the ID token checked by Authlib, the error a refusal sends
back, a person acting for someone under a delegation, and RP-initiated logout ending the IdP session.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urljoin

import httpx

from idp.delegation.interfaces import Actor, DelegationRequest
from idp.delegation.service import DelegationService
from tests.conftest import PASSWORD, form_field, free_port
from tests.e2e.conftest import serve

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "portal_example.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("portal_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def follow(browser: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    """Follow redirects like a browser (303 after a POST becomes a GET)."""
    for _ in range(10):
        if response.status_code not in (302, 303):
            return response
        response = await browser.get(urljoin(str(response.url), response.headers["location"]))
    raise AssertionError("too many redirects")


async def submit(browser: httpx.AsyncClient, page: httpx.Response, action: str, **fields: str) -> httpx.Response:
    """Post the page's form whose action ends with `action`, with its CSRF token."""
    found = re.search(rf'action="(/interaction/[^"]+/{action})"', page.text)
    assert found, f"no {action} form on {page.url}"
    response = await browser.post(urljoin(str(page.url), found.group(1)),
                                  data={"csrf_token": form_field(page.text, "csrf_token"), **fields})
    return await follow(browser, response)


async def sign_in(browser: httpx.AsyncClient, portal_url: str, username: str, *, acting_for: str | None = None,
                  decision: str = "allow") -> httpx.Response:
    page = await follow(browser, await browser.get(f"{portal_url}/login"))
    assert "/interaction/" in str(page.url)
    page = await submit(browser, page, "login", username=username, password=PASSWORD)
    if acting_for is not None:
        page = await submit(browser, page, "act", acting_for=acting_for)
    if "/consent" in page.text:
        page = await submit(browser, page, "consent", decision=decision)
    return page


async def test_the_published_authlib_example_signs_in_acts_for_someone_and_signs_out(live_idp_factory: Any) -> None:
    example = load_example()
    portal_port = free_port()
    portal_url = f"http://localhost:{portal_port}"
    scope = "openid profile appointments.manage"
    async with live_idp_factory() as idp:
        created = await idp.container.clients.register(
            client_id="my-portal", name="My portal", redirect_uris=[f"{portal_url}/callback"],
            post_logout_redirect_uris=[f"{portal_url}/"], scopes=scope.split(), auth_method="client_secret_basic")
        alice = await idp.container.accounts.create(username="alice", password=PASSWORD, given_name="Alice",
                                                    family_name="Martin")
        bob = await idp.container.accounts.create(username="bob", password=PASSWORD, given_name="Bob",
                                                  family_name="Durand")
        portal = example.create_app(issuer=idp.issuer, client_id="my-portal", client_secret=created.secret,
                                    portal_url=portal_url, scope=scope)
        async with serve(portal, portal_port, lifespan="off"), httpx.AsyncClient(timeout=10) as browser:
            home = await sign_in(browser, portal_url, "alice")
            assert str(home.url) == f"{portal_url}/"
            assert '<p id="who">Signed in: Alice Martin</p>' in home.text
            assert '<p id="acr">Assurance: eidas1 (pwd)</p>' in home.text

            # RP-initiated logout with id_token_hint: no confirmation page, back to the portal, IdP session gone.
            out = await follow(browser, await browser.get(f"{portal_url}/logout"))
            assert str(out.url) == f"{portal_url}/" and 'id="login"' in out.text
            again = await follow(browser, await browser.get(f"{portal_url}/login"))
            assert re.search(r'action="/interaction/[^"]+/login"', again.text), "the IdP session survived logout"

        # A refusal comes back as an RFC error on the callback, which the example shows.
        async with serve(portal, portal_port, lifespan="off"), httpx.AsyncClient(timeout=10) as browser:
            refused = await sign_in(browser, portal_url, "bob", decision="deny")
            assert refused.status_code == 400
            assert '<p id="error">access_denied: the person declined</p>' in refused.text

        # Bob holds a proxy delegation from Alice: he picks her on the "act as" page; the portal says so.
        service = idp.container.service(DelegationService)
        delegation = await service.create(
            DelegationRequest(kind="proxy", principal_id=alice.id, delegate_id=bob.id, scopes=("appointments.manage",),
                              reason="test"), Actor.administrator("test"))
        async with serve(portal, portal_port, lifespan="off"), httpx.AsyncClient(timeout=10) as browser:
            home = await sign_in(browser, portal_url, "bob", acting_for=delegation.id)
            assert '<p id="who">Signed in: Bob Durand</p>' in home.text
            assert '<p id="acting">Acting for Alice Martin as proxy</p>' in home.text
