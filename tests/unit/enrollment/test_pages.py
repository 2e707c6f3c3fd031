"""The enrollment pages over HTTP (httpx against the ASGI app), on SQLite + memory and PostgreSQL + Redis."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from idp.accounts.models import Account
from idp.enrollment.demo import DEMO_CHILD, DEMO_CITIZEN, DEMO_PARENT
from idp.enrollment.models import OutboxLetter
from idp.enrollment.security_code import generate_code
from tests.conftest import BACKENDS, Env
from tests.unit.enrollment.pages import (
    NEW_PASSWORD,
    activate,
    browser_at,
    csrf,
    errors_of,
    expire_codes,
    latest_code,
    letters,
    request_code,
    typed_request,
    web_app,
)

NIR = DEMO_CITIZEN["number"]
CODE_INVALID = ("This code is not valid. Please check it against your letter. Type the code exactly as printed in "
                "your letter. After several wrong codes, you will have to wait a few minutes between tries.")
WAIT_MESSAGE = ("Too many codes were tried from this connection. Wait 1 minute(s), then try again. "
                "Waiting does not cancel the code in your letter.")

Factory = Callable[..., AbstractAsyncContextManager[Env]]


@pytest.fixture(params=BACKENDS)
def web_factory(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Factory:
    def make(**extra: str) -> AbstractAsyncContextManager[Env]:
        return web_app(request.param, request, tmp_path, sqlite_template, **extra)

    return make


@pytest.fixture
async def web(web_factory: Factory) -> AsyncIterator[Env]:
    async with web_factory() as value:
        yield value


def outside_view(response: httpx.Response) -> tuple[int, bytes, list[str], list[tuple[str, str]]]:
    """Everything a requester sees of a response but its Date header and its request id (random per request,
    whatever the answer)."""
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k.lower() not in ("date", "x-request-id"))
    return response.status_code, response.content, response.headers.get_list("set-cookie"), headers


async def test_match_and_no_match_answer_byte_for_byte_the_same(web_factory: Factory) -> None:
    floor_ms = 300
    async with web_factory(MANDAT_ENROLLMENT_REQUEST_MIN_DURATION_MS=str(floor_ms)) as web:
        token = await csrf(web)  # one CSRF cookie for both posts, so even the token in the page is the same
        answers, durations = [], []
        for fields in (typed_request(DEMO_CITIZEN),
                       typed_request(DEMO_CITIZEN, card_sequence="99"),  # the card does not match the record
                       typed_request(DEMO_CITIZEN, number="2 85 04 75 111 123 21")):  # no such record (valid NIR)
            started = time.perf_counter()
            posted = await web.http.post("/enroll", data={"csrf_token": token, **fields})
            durations.append(time.perf_counter() - started)
            follow = await web.http.get(posted.headers["location"])
            answers.append((outside_view(posted), outside_view(follow)))
        assert answers[0] == answers[1] == answers[2]
        posted_view, page_view = answers[0]
        assert posted_view[0] == 303 and dict(posted_view[3])["location"] == "/enroll/requested"
        assert posted_view[1] == b"" and posted_view[2] == []  # no body, no cookie
        assert page_view[0] == 200 and b"If this matches our records" in page_view[1]
        assert min(durations) >= floor_ms / 1000
        assert max(durations) - min(durations) < 0.25, durations
        sent = await letters(web)
        assert [(letter.registry_number, letter.purpose) for letter in sent] == [(NIR, "enrol")]


async def test_matching_request_queues_a_letter_shown_in_the_demo_outbox(web: Env) -> None:
    response = await request_code(web, typed_request(DEMO_PARENT))
    assert response.status_code == 303
    code = await latest_code(web, DEMO_PARENT["number"])
    assert len(code) == 16 and code.count("-") == 3
    assert (await letters(web))[0].recipient_name == "Émilie Lefèbvre-D'Amour"


async def test_outbox_route_exists_only_in_demo_mode(web_factory: Factory) -> None:
    async with web_factory(MANDAT_DEMO="false") as web:
        assert (await web.http.get("/demo/outbox")).status_code == 404
        await request_code(web, typed_request(DEMO_CITIZEN))
        page = await web.http.get("/enroll/requested")
        assert "/demo/outbox" not in page.text


async def test_rate_limit_per_ip_exhausted(web_factory: Factory) -> None:
    async with web_factory(MANDAT_ENROLLMENT_IP_MAX_REQUESTS="3") as web:
        for _ in range(3):
            assert (await request_code(web, typed_request(DEMO_CITIZEN, card_sequence="98"))).status_code == 303
        refused = await request_code(web, typed_request(DEMO_CITIZEN))
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 3600
        assert errors_of(refused.text) == [
            "Too many requests from this connection or for this number. Wait 60 minute(s), then try again."]
        assert await letters(web) == []  # the matching request came too late


async def test_rate_limit_per_number_counts_unknown_numbers_the_same(web_factory: Factory) -> None:
    async with web_factory(MANDAT_ENROLLMENT_NUMBER_MAX_REQUESTS="2") as web:
        unknown = typed_request(DEMO_CITIZEN, number="2 85 04 75 111 123 21")
        answers = []
        for fields in (typed_request(DEMO_CITIZEN), unknown):
            statuses = [(await request_code(web, fields)).status_code for _ in range(3)]
            answers.append(statuses)
        assert answers == [[303, 303, 429], [303, 303, 429]]


async def test_under_age_citizen_gets_a_clear_refusal_and_no_letter(web: Env) -> None:
    response = await request_code(web, typed_request(DEMO_CHILD))
    assert response.status_code == 403
    assert "You must be at least 14 years old to create an account yourself." in response.text
    assert "a parent or legal guardian who has a Mandat account can act for you" in response.text
    assert await letters(web) == []


async def test_minimum_age_is_configurable(web_factory: Factory) -> None:
    async with web_factory(MANDAT_ENROLLMENT_MINIMUM_AGE="50") as web:
        response = await request_code(web, typed_request(DEMO_CITIZEN))
        assert response.status_code == 403 and "at least 50 years old" in response.text


async def test_field_errors_are_summarised_and_linked_to_their_inputs(web: Env) -> None:
    response = await request_code(web, typed_request(DEMO_CITIZEN, family_name="", birth_day=""))
    assert response.status_code == 400
    # The service stops at the first bad field; the summary links to it and the input names its error.
    assert errors_of(response.text) == ["Enter your family name, as printed on your card."]
    assert 'href="#family_name"' in response.text
    assert 'id="family_name-error"' in response.text
    assert 'aria-describedby="family_name-error" aria-invalid="true"' in response.text
    # What was typed stays in the form (except nothing secret is asked here).
    assert 'value="1850 4751 1112 371"' in response.text


async def test_number_errors_say_what_is_wrong(web: Env) -> None:
    response = await request_code(web, typed_request(DEMO_CITIZEN, number="1 85 04 75 111 123 70"))
    assert errors_of(response.text) == [
        "The key of the social security number (NIR) is wrong: please check every digit."]
    french = await web.http.post("/enroll", headers={"accept-language": "fr"}, data={
        "csrf_token": await csrf(web), **typed_request(DEMO_CITIZEN, birth_year="1986")})
    assert errors_of(french.text) == [
        "La date de naissance ne correspond pas au numéro de sécurité sociale."]


async def test_forms_need_the_csrf_token(web: Env) -> None:
    await csrf(web)
    for path, data in (("/enroll", typed_request(DEMO_CITIZEN)), ("/recover", typed_request(DEMO_CITIZEN)),
                       ("/activate", {"number": NIR, "code": "x", "password": NEW_PASSWORD})):
        response = await web.http.post(path, data={"csrf_token": "0" * 64, **data})
        assert response.status_code == 403, path
        assert "The form expired" in response.text
    assert await letters(web) == []


async def test_pages_in_french_and_english(web: Env) -> None:
    french = await web.http.get("/enroll", headers={"accept-language": "fr-FR"})
    assert "<h1>Créer votre compte</h1>" in french.text and 'lang="fr"' in french.text
    english = await web.http.get("/activate", headers={"accept-language": "en"})
    assert "<h1>Activate your account</h1>" in english.text
    assert 'autocomplete="new-password"' in english.text and 'autocomplete="one-time-code"' in english.text
    assert "<script src=\"/static/enrollment.js\" defer></script>" in english.text
    assert "at least 12 characters" in english.text  # the rules are on the page, with or without script


# --- activation ------------------------------------------------------------------------------------------------

async def test_activation_signs_in_and_offers_a_passkey(web: Env) -> None:
    await request_code(web, typed_request(DEMO_CITIZEN))
    code = await latest_code(web, NIR)
    response = await activate(web, "1 85 04 75 111 123 71", code.lower().replace("-", " "))
    assert response.status_code == 303 and response.headers["location"] == "/activate/done"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("mandat_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # http://localhost
    done = await web.http.get("/activate/done")
    assert "You are signed in as Jean Michel Dupont-Lefèvre." in done.text
    assert 'href="/account/passkeys/new"' in done.text
    account = await web.container.accounts.by_username(NIR)
    assert account is not None and account.identity is not None
    assert account.identity["identity_status"] == "QUAL"
    assert account.identity["verified_claims"]["verification"]["trust_framework"] == "fr_ins"


async def test_weak_password_shows_the_rule_and_a_strength_hint(web: Env) -> None:
    await request_code(web, typed_request(DEMO_CITIZEN))
    code = await latest_code(web, NIR)
    response = await activate(web, NIR, code, password="motdepasse2024!")
    assert response.status_code == 400
    assert errors_of(response.text) == [
        "This password is too common or has appeared in data breaches. Please choose another."]
    assert "Strength of the password you typed: weak" in response.text
    assert (await activate(web, NIR, code)).status_code == 303  # the code was not spent


async def test_expired_code(web: Env) -> None:
    await request_code(web, typed_request(DEMO_CITIZEN))
    code = await latest_code(web, NIR)
    await expire_codes(web, NIR)
    response = await activate(web, NIR, code)
    assert response.status_code == 400
    assert errors_of(response.text) == [
        "This code has expired. Please request a new one. Request a new code: a new letter will be mailed to you. "
        "Request a new code"]
    assert 'href="/recover"' in response.text




async def test_a_stranger_cannot_lock_a_citizens_code(web: Env) -> None:
    await request_code(web, typed_request(DEMO_CITIZEN))
    code = await latest_code(web, NIR)
    # The attacker, at 203.0.113.7 (the test's own client), knows the number and guesses well-formed codes.
    statuses, messages = [], []
    for _ in range(20):
        response = await activate(web, NIR, generate_code())
        statuses.append(response.status_code)
        messages.append(errors_of(response.text)[0])
    # Five wrong codes say so; then this connection must wait (15 s first), and nothing more is checked.
    assert statuses == [400] * 5 + [429] * 15
    assert messages[:5] == [CODE_INVALID] * 5
    assert messages[5:] == [WAIT_MESSAGE] * 15
    # The citizen, from their own connection, activates with the code from the letter and is signed in.
    async with browser_at(web, "192.0.2.10") as citizen:
        signed_in = await activate(web, NIR, code, http=citizen)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/activate/done"
        done = await citizen.get("/activate/done")
        assert "You are signed in as Jean Michel Dupont-Lefèvre." in done.text
    # The attacker's next guess is still refused, with Retry-After and the wait in words, in either language.
    refused = await activate(web, NIR, generate_code())
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 15
    assert errors_of(refused.text) == [WAIT_MESSAGE]
    french = await activate(web, NIR, generate_code(), headers={"accept-language": "fr"})
    assert french.status_code == 429 and "retry-after" in french.headers
    assert errors_of(french.text) == [
        "Trop de codes ont été essayés depuis cette connexion. Attendez 1 minute(s), puis réessayez. "
        "Attendre n'annule pas le code de votre courrier."]


async def test_code_reused_after_activation(web: Env) -> None:
    await request_code(web, typed_request(DEMO_CITIZEN))
    code = await latest_code(web, NIR)
    assert (await activate(web, NIR, code)).status_code == 303
    again = await activate(web, NIR, code, password="another long passphrase here")
    assert again.status_code == 400
    assert errors_of(again.text)[0].startswith("This code has already been used. Please request a new one if you "
                                               "need to. If you already activated your account, sign in.")


async def test_superseded_code(web: Env) -> None:
    await request_code(web, typed_request(DEMO_CITIZEN))
    first = await latest_code(web, NIR)
    await request_code(web, typed_request(DEMO_CITIZEN))
    second = await latest_code(web, NIR)
    assert first != second
    response = await activate(web, NIR, first)
    assert errors_of(response.text) == [
        "A newer code was mailed to you: please use the code from your most recent letter. Use the code from the "
        "most recent letter you received."]
    assert (await activate(web, NIR, second)).status_code == 303


async def test_activation_fields_are_all_checked_at_once(web: Env) -> None:
    token = await csrf(web, "/activate")
    response = await web.http.post("/activate", data={"csrf_token": token, "number": "", "code": "",
                                                      "password": ""})
    assert response.status_code == 400
    assert errors_of(response.text) == [
        "Enter your health insurance number, as printed on your card.",
        "Enter the security code printed in your letter.",
        "Choose a password of at least 12 characters."]


async def test_wrong_codes_are_limited_per_ip(web_factory: Factory) -> None:
    async with web_factory(MANDAT_ENROLLMENT_GUESS_IP_FREE_TRIES="2") as web:
        for number in (NIR, DEMO_PARENT["number"]):
            assert (await activate(web, number, "0000-0000-0000-0")).status_code == 400
        refused = await activate(web, DEMO_CHILD["number"], "0000-0000-0000-0")
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 15
        assert errors_of(refused.text) == [WAIT_MESSAGE]


async def test_login_page_links_to_recovery(web: Env) -> None:
    await web.add_client()
    response = await web.http.get("/authorize", params=web.authorize_params())
    page = await web.http.get(response.headers["location"], headers={"accept-language": "en"})
    assert 'href="/recover"' in page.text and "Forgot your password or lost your security key?" in page.text
    assert 'href="/enroll"' in page.text


async def test_audit_records_the_request_and_its_outcome_privately(web: Env) -> None:
    from idp.audit import AuditEvent

    await request_code(web, typed_request(DEMO_CITIZEN))
    await request_code(web, typed_request(DEMO_CITIZEN, card_sequence="99"))
    await web.container.audit.flush()
    async with web.container.db.session() as session:
        events = (await session.execute(select(AuditEvent.tag, AuditEvent.detail)
                                        .where(AuditEvent.tag.like("enrollment:%")).order_by(AuditEvent.id))).all()
    tags = [(tag, detail.get("outcome")) for tag, detail in events]
    assert tags == [("enrollment:code:outcome", "queued"), ("enrollment:code:requested", None),
                    ("enrollment:code:outcome", "no_match"), ("enrollment:code:requested", None)]


async def test_no_account_is_created_before_activation(web: Env) -> None:
    await request_code(web, typed_request(DEMO_CITIZEN))
    async with web.container.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Account)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxLetter)) == 1

