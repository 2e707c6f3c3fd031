"""The card agent answers only its IdP origin, on loopback, and turns card states into JSON error codes.

The card here is the in-process virtual card (the same emulator that tests/e2e/cards drives through pcscd).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from idp.cards.agent import create_agent_app
from idp.cards.emulator import InProcessReader, VirtualCpsCard
from idp.cards.pki import ChainValidator
from idp.cards.verify import CardResponse, issue_challenge, verify_card_response
from idp.store import MemoryStore

from .conftest import PIN, VALID_ID

ORIGIN = "https://idp.example"
PORT = 24365
BASE = f"http://127.0.0.1:{PORT}"


@pytest.fixture()
def reader(card: VirtualCpsCard) -> InProcessReader:
    return InProcessReader(card)


@pytest.fixture()
async def agent(reader: InProcessReader) -> AsyncIterator[httpx.AsyncClient]:
    app = create_agent_app(ORIGIN, reader=reader, port=PORT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE,
                                 headers={"Origin": ORIGIN}) as client:
        yield client


async def sign(agent: httpx.AsyncClient, pin: str, challenge: str = "c" * 43) -> httpx.Response:
    return await agent.post("/sign", json={"challenge": challenge, "pin": pin})


# --- origin, host and CORS -------------------------------------------------------------------------------


async def test_status_answers_the_idp_origin_with_exact_cors(agent: httpx.AsyncClient) -> None:
    response = await agent.get("/status")
    assert response.status_code == 200
    assert response.json() == {"readers": [{"name": "Mandat in-process reader", "card_present": True}],
                               "card_present": True}
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize("origin", ["https://evil.example", "https://idp.example.evil.example",
                                    "http://idp.example", "null"])
async def test_other_origins_get_403(agent: httpx.AsyncClient, origin: str) -> None:
    for response in (await agent.get("/status", headers={"Origin": origin}),
                     await agent.post("/sign", json={"challenge": "c" * 43, "pin": PIN}, headers={"Origin": origin})):
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden_origin"
        assert "access-control-allow-origin" not in response.headers


async def test_request_without_origin_gets_403(reader: InProcessReader) -> None:
    app = create_agent_app(ORIGIN, reader=reader, port=PORT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        response = await client.get("/status")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden_origin"


@pytest.mark.parametrize("base", ["http://attacker.example:24365", "http://127.0.0.1:9999"])
async def test_foreign_host_header_gets_403(reader: InProcessReader, base: str) -> None:
    # DNS rebinding: a page on attacker.example whose name resolves to 127.0.0.1 still sends its own Host.
    app = create_agent_app(ORIGIN, reader=reader, port=PORT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base,
                                 headers={"Origin": ORIGIN}) as client:
        response = await client.get("/status")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden_host"


async def test_non_loopback_peer_gets_403(reader: InProcessReader) -> None:
    app = create_agent_app(ORIGIN, reader=reader, port=PORT)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers={"Origin": ORIGIN}) as client:
        response = await client.get("/status")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden_host"


async def test_preflight_allows_exactly_the_idp_origin(agent: httpx.AsyncClient) -> None:
    response = await agent.options("/sign", headers={"Access-Control-Request-Method": "POST",
                                                     "Access-Control-Request-Headers": "content-type",
                                                     "Access-Control-Request-Private-Network": "true"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-methods"] == "GET, POST"
    assert response.headers["access-control-allow-headers"] == "Content-Type"
    assert response.headers["access-control-allow-private-network"] == "true"


async def test_preflight_from_another_origin_gets_403(agent: httpx.AsyncClient) -> None:
    response = await agent.options("/sign", headers={"Origin": "https://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


# --- signing ---------------------------------------------------------------------------------------------


async def test_sign_returns_what_the_server_accepts(agent: httpx.AsyncClient, validator: ChainValidator) -> None:
    store = MemoryStore()
    challenge = await issue_challenge(store, "tx-1")
    response = await sign(agent, PIN, challenge)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["alg"] == "RS256"
    card = await verify_card_response(store, validator, transaction_id="tx-1", challenge=challenge,
                                      response=CardResponse.from_json(body), origin=ORIGIN)
    assert card.national_id == VALID_ID


async def test_wrong_pin_reports_tries_left_then_blocked(agent: httpx.AsyncClient, card: VirtualCpsCard) -> None:
    first, second, third, after = [await sign(agent, pin) for pin in ("0000", "0000", "0000", PIN)]
    assert (first.status_code, first.json()) == (401, {"error": "wrong_pin", "error_description": "Wrong PIN.",
                                                       "tries_left": 2})
    assert second.json()["tries_left"] == 1
    assert (third.status_code, third.json()["error"]) == (423, "card_blocked")
    assert (after.status_code, after.json()["error"]) == (423, "card_blocked")
    assert card.pin_tries_left == 0


async def test_no_card_is_reported(reader: InProcessReader, agent: httpx.AsyncClient) -> None:
    reader.card = None
    response = await sign(agent, PIN)
    assert (response.status_code, response.json()["error"]) == (409, "no_card")
    status = await agent.get("/status")
    assert status.json()["card_present"] is False


@pytest.mark.parametrize("body", [{"challenge": "c" * 43, "pin": "12"}, {"challenge": "c" * 43, "pin": "12345abc"},
                                  {"challenge": "short", "pin": PIN}, {"challenge": "c" * 43}, ["x"]])
async def test_malformed_sign_requests_are_invalid_request(agent: httpx.AsyncClient, body: object,
                                                           card: VirtualCpsCard) -> None:
    response = await agent.post("/sign", json=body)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert card.pin_tries_left == 3  # nothing reached the card


async def test_sign_requires_json_content_type(agent: httpx.AsyncClient) -> None:
    response = await agent.post("/sign", content=b'{"challenge": "x", "pin": "1234"}',
                                headers={"Content-Type": "text/plain"})
    assert response.status_code == 400


async def test_pin_never_appears_in_responses_or_logs(agent: httpx.AsyncClient,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    response = await sign(agent, "8642")
    assert "8642" not in response.text
    assert "8642" not in caplog.text
