"""A full OIDC sign-in with a CPS card over real PC/SC: virtual card → vpcd → pcscd → pyscard → card agent → live IdP.

/authorize → login page → POST card/challenge → agent POST /sign (VERIFY PIN, sign) → POST card/verify → consent
→ code → /token → /userinfo with scope_all: the PSC-shaped claims.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from idp.cards.agent import PcscReader, create_agent_app
from idp.cards.testpki import DEMO_PROFESSIONALS, GeneratedPki
from tests.unit.cards.card_flow import (
    agent_signer,
    card_sign_in,
    code_after_sign_in,
    jwt_claims,
    open_login_page,
    post_challenge,
    post_verify,
    tokens_and_userinfo,
)

from .conftest import PIN, READER, InsertCard, audit_tags, card_idp

pytestmark = pytest.mark.pcsc

VALID = DEMO_PROFESSIONALS[0]
REVOKED_ID = next(p.national_id for p in DEMO_PROFESSIONALS if p.revoked)


@pytest.fixture()
async def live(live_idp_factory: Any, pki: GeneratedPki) -> AsyncIterator[Any]:
    async with card_idp(live_idp_factory, pki) as idp:
        yield idp


@pytest.fixture()
async def agent(pcscd: None, live: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The agent over the real reader, answering the live IdP's origin only."""
    app = create_agent_app(live.idp.issuer, reader=PcscReader(READER), port=24365)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:24365",
                                 headers={"Origin": live.idp.issuer}, timeout=10) as client:
        yield client


async def test_full_login_over_pcsc_gives_psc_claims(insert_card: InsertCard, live: Any,
                                                     agent: httpx.AsyncClient) -> None:
    card, _bridge = insert_card(VALID.national_id)
    page = await open_login_page(live.http, acr_values="eidas3")
    # A wrong PIN first: the agent says how many tries are left, and the right PIN then resets the counter.
    challenge = (await post_challenge(live.http, page)).json()["challenge"]
    wrong = await agent.post("/sign", json={"challenge": challenge, "pin": "9999"})
    assert (wrong.status_code, wrong.json()["error"], wrong.json()["tries_left"]) == (401, "wrong_pin", 2)
    verified = await card_sign_in(live.http, page, agent_signer(agent, PIN))
    assert card.pin_tries_left == 3
    code = await code_after_sign_in(live.http, verified)
    tokens, userinfo = await tokens_and_userinfo(live.http, code, page.verifier, live.client)

    id_token = jwt_claims(tokens["id_token"])
    assert (id_token["acr"], id_token["amr"]) == ("eidas3", ["sc", "pin", "hwk", "mfa"])
    assert jwt_claims(tokens["access_token"])["acr"] == "eidas3"
    assert userinfo["sub"] == id_token["sub"]
    assert userinfo["SubjectNameID"] == userinfo["preferred_username"] == VALID.national_id
    assert (userinfo["given_name"], userinfo["family_name"]) == (VALID.given_name, VALID.family_name)
    assert userinfo["SubjectRole"] == [f"{VALID.profession}^1.2.250.1.213.1.1.5.5"]
    assert userinfo["SubjectOrganization"] == VALID.structure_name
    assert userinfo["SubjectOrganizationID"] == VALID.structure
    exercise = userinfo["SubjectRefPro"]["exercices"][0]
    assert exercise["codeProfession"] == VALID.profession
    assert exercise["activities"][0]["identifiantTechniqueDeLaStructure"] == VALID.structure
    assert userinfo["otherIds"] == [{"identifiant": VALID.national_id, "origine": "RPPS", "qualite": 1}]
    assert userinfo["authMode"] == "CARD"
    assert [tag for tag, _ in await audit_tags(live.idp, "cards:login:")] == ["cards:login:succeeded"]


async def test_three_wrong_pins_block_the_card_and_the_login_cannot_finish(insert_card: InsertCard, live: Any,
                                                                           agent: httpx.AsyncClient) -> None:
    card, _bridge = insert_card(VALID.national_id)
    page = await open_login_page(live.http)
    challenge = (await post_challenge(live.http, page)).json()["challenge"]
    answers = [await agent.post("/sign", json={"challenge": challenge, "pin": "0000"}) for _ in range(3)]
    assert [(a.json()["error"], a.json().get("tries_left")) for a in answers] == [
        ("wrong_pin", 2), ("wrong_pin", 1), ("card_blocked", None)]
    blocked = await agent.post("/sign", json={"challenge": challenge, "pin": PIN})
    assert (blocked.status_code, blocked.json()["error"]) == (423, "card_blocked")
    assert card.pin_tries_left == 0


async def test_revoked_card_is_refused_at_verify_and_audited(insert_card: InsertCard, live: Any,
                                                             agent: httpx.AsyncClient) -> None:
    insert_card(REVOKED_ID)
    page = await open_login_page(live.http)
    challenge = (await post_challenge(live.http, page)).json()["challenge"]
    signed = await agent.post("/sign", json={"challenge": challenge, "pin": PIN})
    assert signed.status_code == 200  # the card itself works: only the IdP knows it is revoked
    refused = await post_verify(live.http, page, challenge, signed.json())
    assert (refused.status_code, refused.json()["error"]) == (400, "certificate_revoked")
    events = await audit_tags(live.idp, "cards:login:")
    assert [(tag, detail["error"]) for tag, detail in events] == [("cards:login:failed", "certificate_revoked")]
    assert await live.idp.container.accounts.by_username(REVOKED_ID) is None
