"""CPS card sign-in over the real PC/SC stack: virtual card → vpcd → pcscd → pyscard → card agent → IdP checks."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn

from idp.cards.agent import PcscReader, create_agent_app
from idp.cards.apdu import INS_VERIFY
from idp.cards.errors import CertificateRevoked
from idp.cards.pki import ChainValidator
from idp.cards.testpki import DEMO_PROFESSIONALS
from idp.cards.verify import CardResponse, issue_challenge, verify_card_response
from idp.store import MemoryStore

from .conftest import PIN, READER, InsertCard, wait_for_reader

pytestmark = pytest.mark.pcsc

ORIGIN = "https://idp.example"
PORT = 24365
VALID_ID = DEMO_PROFESSIONALS[0].national_id
REVOKED_ID = next(p.national_id for p in DEMO_PROFESSIONALS if p.revoked)


@pytest.fixture()
async def agent(pcscd: None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_agent_app(ORIGIN, reader=PcscReader(READER), port=PORT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://127.0.0.1:{PORT}",
                                 headers={"Origin": ORIGIN}, timeout=10) as client:
        yield client


async def sign_in(agent: httpx.AsyncClient, validator: ChainValidator, pin: str = PIN) -> str:
    """The whole path A: challenge from the IdP, signature from the agent, verification by the IdP."""
    store = MemoryStore()
    challenge = await issue_challenge(store, "tx-1")
    response = await agent.post("/sign", json={"challenge": challenge, "pin": pin})
    assert response.status_code == 200, response.text
    card = await verify_card_response(store, validator, transaction_id="tx-1", challenge=challenge,
                                      response=CardResponse.from_json(response.json()), origin=ORIGIN)
    return card.national_id


async def test_card_signs_in_through_the_agent(insert_card: InsertCard, agent: httpx.AsyncClient,
                                               validator: ChainValidator) -> None:
    insert_card(VALID_ID)
    status = (await agent.get("/status")).json()
    assert {"name": next(r["name"] for r in status["readers"] if r["name"].startswith(READER)),
            "card_present": True} in status["readers"]
    assert await sign_in(agent, validator) == VALID_ID


async def test_wrong_pins_count_down_then_block_the_card(insert_card: InsertCard, agent: httpx.AsyncClient) -> None:
    card, _bridge = insert_card(VALID_ID)
    answers = [await agent.post("/sign", json={"challenge": "c" * 43, "pin": "0000"}) for _ in range(3)]
    assert [(a.status_code, a.json()["error"], a.json().get("tries_left")) for a in answers] == [
        (401, "wrong_pin", 2), (401, "wrong_pin", 1), (423, "card_blocked", None)]
    after = await agent.post("/sign", json={"challenge": "c" * 43, "pin": PIN})
    assert (after.status_code, after.json()["error"]) == (423, "card_blocked")
    assert card.pin_tries_left == 0


async def test_revoked_card_is_refused_by_the_idp(insert_card: InsertCard, agent: httpx.AsyncClient,
                                                  validator: ChainValidator) -> None:
    insert_card(REVOKED_ID)
    with pytest.raises(CertificateRevoked) as caught:
        await sign_in(agent, validator)
    assert caught.value.code == "certificate_revoked"


async def test_card_removed_mid_flow_is_card_removed(insert_card: InsertCard, agent: httpx.AsyncClient) -> None:
    card, bridge = insert_card(VALID_ID)
    bridge.remove_when(lambda command: command.ins == INS_VERIFY)
    response = await agent.post("/sign", json={"challenge": "c" * 43, "pin": PIN})
    assert (response.status_code, response.json()["error"]) == (409, "card_removed")
    assert card.pin_tries_left == 3  # the PIN never reached the card

    wait_for_reader(present=False)
    response = await agent.post("/sign", json={"challenge": "c" * 43, "pin": PIN})
    assert (response.status_code, response.json()["error"]) == (409, "no_card")


async def test_reinserted_card_works_again(insert_card: InsertCard, agent: httpx.AsyncClient,
                                           validator: ChainValidator) -> None:
    _card, bridge = insert_card(VALID_ID)
    bridge.remove()
    wait_for_reader(present=False)
    assert (await agent.get("/status")).json()["card_present"] is False
    bridge.insert()
    wait_for_reader(present=True)
    assert await sign_in(agent, validator) == VALID_ID


@pytest.fixture()
def agent_server(pcscd: None) -> Iterator[int]:
    """The agent served by uvicorn on a real loopback socket, as `run_agent` does."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    app = create_agent_app(ORIGIN, reader=PcscReader(READER), port=port)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield port
    server.should_exit = True
    thread.join(timeout=5)


async def test_agent_over_real_http(insert_card: InsertCard, agent_server: int, validator: ChainValidator) -> None:
    insert_card(VALID_ID)
    base = f"http://127.0.0.1:{agent_server}"
    async with httpx.AsyncClient(base_url=base, headers={"Origin": ORIGIN}, timeout=10) as client:
        preflight = await client.options("/sign", headers={"Access-Control-Request-Method": "POST"})
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert await sign_in(client, validator) == VALID_ID
        refused = await client.get("/status", headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403
