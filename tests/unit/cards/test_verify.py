"""Server-side verification of a card answer: challenge binding, signature, chain."""

from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import quote

import pytest

from idp.cards.cps import CpsCard
from idp.cards.emulator import VirtualCpsCard
from idp.cards.errors import (
    BadChallengeSignature,
    CardBlocked,
    CertificateRevoked,
    InvalidCardResponse,
    InvalidCertificate,
    InvalidChallenge,
    WrongPin,
)
from idp.cards.pki import ChainValidator
from idp.cards.testpki import GeneratedPki
from idp.cards.verify import (
    CardResponse,
    certificate_from_proxy_header,
    issue_challenge,
    signed_message,
    verify_card_response,
)
from idp.store import MemoryStore

from .conftest import PIN, VALID_ID

ORIGIN = "https://idp.example"


def answer(card: VirtualCpsCard, challenge: str, origin: str = ORIGIN) -> CardResponse:
    signature = CpsCard(card.transmit).authenticate(PIN, signed_message(origin, challenge))
    return CardResponse(signature.certificate, signature.signature, signature.alg)


async def test_card_answer_is_verified_to_the_national_id(card: VirtualCpsCard, validator: ChainValidator) -> None:
    store = MemoryStore()
    challenge = await issue_challenge(store, "tx-1")
    result = await verify_card_response(store, validator, transaction_id="tx-1", challenge=challenge,
                                        response=answer(card, challenge), origin=ORIGIN)
    assert result.national_id == VALID_ID


async def test_challenge_is_single_use(card: VirtualCpsCard, validator: ChainValidator) -> None:
    store = MemoryStore()
    challenge = await issue_challenge(store, "tx-1")
    response = answer(card, challenge)
    await verify_card_response(store, validator, transaction_id="tx-1", challenge=challenge, response=response,
                               origin=ORIGIN)
    with pytest.raises(InvalidChallenge) as caught:
        await verify_card_response(store, validator, transaction_id="tx-1", challenge=challenge,
                                   response=response, origin=ORIGIN)
    assert caught.value.code == "invalid_challenge"


async def test_challenge_of_another_transaction_is_refused_and_burnt(card: VirtualCpsCard,
                                                                    validator: ChainValidator) -> None:
    store = MemoryStore()
    challenge = await issue_challenge(store, "tx-1")
    response = answer(card, challenge)
    with pytest.raises(InvalidChallenge):
        await verify_card_response(store, validator, transaction_id="tx-2", challenge=challenge,
                                   response=response, origin=ORIGIN)
    with pytest.raises(InvalidChallenge):  # consumed by the failed attempt: no second guess
        await verify_card_response(store, validator, transaction_id="tx-1", challenge=challenge,
                                   response=response, origin=ORIGIN)


async def test_challenge_expires_after_its_ttl(card: VirtualCpsCard, validator: ChainValidator) -> None:
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    challenge = await issue_challenge(store, "tx-1", ttl=120)
    now[0] += 121
    with pytest.raises(InvalidChallenge):
        await verify_card_response(store, validator, transaction_id="tx-1", challenge=challenge,
                                   response=answer(card, challenge), origin=ORIGIN)


async def test_signature_made_for_another_origin_is_bad_challenge_signature(card: VirtualCpsCard,
                                                                            validator: ChainValidator) -> None:
    store = MemoryStore()
    challenge = await issue_challenge(store, "tx-1")
    with pytest.raises(BadChallengeSignature) as caught:
        await verify_card_response(store, validator, transaction_id="tx-1", challenge=challenge,
                                   response=answer(card, challenge, "https://evil.example"), origin=ORIGIN)
    assert caught.value.code == "bad_challenge_signature"


async def test_signature_by_another_card_is_bad_challenge_signature(card: VirtualCpsCard,
                                                                   revoked_card: VirtualCpsCard,
                                                                   validator: ChainValidator) -> None:
    store = MemoryStore()
    challenge = await issue_challenge(store, "tx-1")
    genuine, other = answer(card, challenge), answer(revoked_card, challenge)
    with pytest.raises(BadChallengeSignature):
        await verify_card_response(store, validator, transaction_id="tx-1", challenge=challenge,
                                   response=CardResponse(genuine.certificate, other.signature, "RS256"),
                                   origin=ORIGIN)


async def test_revoked_card_with_a_good_signature_is_certificate_revoked(revoked_card: VirtualCpsCard,
                                                                        validator: ChainValidator) -> None:
    store = MemoryStore()
    challenge = await issue_challenge(store, "tx-1")
    with pytest.raises(CertificateRevoked):
        await verify_card_response(store, validator, transaction_id="tx-1", challenge=challenge,
                                   response=answer(revoked_card, challenge), origin=ORIGIN)


async def test_unexpected_algorithm_is_invalid_card_response(card: VirtualCpsCard,
                                                            validator: ChainValidator) -> None:
    store = MemoryStore()
    challenge = await issue_challenge(store, "tx-1")
    good = answer(card, challenge)
    with pytest.raises(InvalidCardResponse):
        await verify_card_response(store, validator, transaction_id="tx-1", challenge=challenge,
                                   response=CardResponse(good.certificate, good.signature, "none"), origin=ORIGIN)


@pytest.mark.parametrize("body", [
    None, [], {}, {"certificate": "AA==", "signature": "AA=="},
    {"certificate": "not base64!", "signature": "AA==", "alg": "RS256"},
])
def test_malformed_agent_json_is_invalid_card_response(body: object) -> None:
    with pytest.raises(InvalidCardResponse) as caught:
        CardResponse.from_json(body)
    assert caught.value.code == "invalid_card_response"


def test_agent_json_decodes() -> None:
    response = CardResponse.from_json({"certificate": base64.b64encode(b"c").decode(),
                                       "signature": base64.b64encode(b"s").decode(), "alg": "RS256"})
    assert response == CardResponse(b"c", b"s", "RS256")


async def test_challenges_are_random_and_urlsafe() -> None:
    store = MemoryStore()
    challenges = {await issue_challenge(store, "tx") for _ in range(50)}
    assert len(challenges) == 50
    assert all(len(c) == 43 and c.replace("-", "").replace("_", "").isalnum() for c in challenges)


def test_wrong_pins_then_blocked(card: VirtualCpsCard) -> None:
    host = CpsCard(card.transmit)
    host.select_application()
    assert host.pin_tries_left() == 3
    with pytest.raises(WrongPin) as first:
        host.verify_pin("9999")
    assert first.value.tries_left == 2
    assert first.value.as_json() == {"error": "wrong_pin", "error_description": "Wrong PIN.", "tries_left": 2}
    with pytest.raises(WrongPin):
        host.verify_pin("9999")
    with pytest.raises(CardBlocked):
        host.verify_pin("9999")
    with pytest.raises(CardBlocked):
        host.verify_pin(PIN)
    assert host.pin_tries_left() == 0


def test_proxy_header_certificate_is_decoded(pki: GeneratedPki, validator: ChainValidator) -> None:
    pem = (pki.card_dirs[VALID_ID] / "cert.pem").read_text()
    der = certificate_from_proxy_header(quote(pem))
    assert validator.validate(der, now=dt.datetime.now(dt.UTC)).national_id == VALID_ID
    with pytest.raises(InvalidCertificate):
        certificate_from_proxy_header("-----BEGIN%20CERTIFICATE-----garbage")
