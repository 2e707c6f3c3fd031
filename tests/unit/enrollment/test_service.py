"""EnrollmentService on a temp SQLite database and the memory store: requests, codes, activation, recovery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from idp.accounts.models import Account
from idp.db import Database
from idp.enrollment.config import EnrollmentSettings
from idp.enrollment.errors import CodeError, FieldError, PasswordRejected, RateLimited, UnderAge
from idp.enrollment.interfaces import CodeRequest, RequestOutcome
from idp.enrollment.models import OutboxLetter, SecurityCode
from idp.enrollment.service import EnrollmentService
from idp.store import MemoryStore
from tests.unit.enrollment.conftest import CITIZEN, SECRET, Clock, add_record

NUMBER = "LEFE90551712"
PASSWORD = "Le chat dort sur le radiateur"
IP = "192.0.2.1"
ATTACKER = "198.51.100.66"


def form(**overrides: str) -> CodeRequest:
    values = {
        "number": "lefe 9055 1712", "family_name": "LEFEBVRE D AMOUR", "given_name": "emilie",
        "birth_date": "1990-05-17", "card_sequence": "01", "card_expiry": "2028-03",
    }
    return CodeRequest(**(values | overrides))


class Rig:
    def __init__(self, db: Database, **settings: Any) -> None:
        self.db = db
        self.clock = Clock()
        self.store = MemoryStore()
        self.sleeps: list[float] = []
        self.settings = EnrollmentSettings(**({"request_min_duration_ms": 300} | settings))
        self.service = EnrollmentService(
            db, self.store, self.settings, SECRET, self.clock,
            hash_password=lambda password: f"hashed:{password}", sleep=self._sleep,
        )

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def letters(self) -> list[OutboxLetter]:
        async with self.db.session() as session:
            return list(await session.scalars(select(OutboxLetter).order_by(OutboxLetter.id)))

    async def codes(self) -> list[SecurityCode]:
        async with self.db.session() as session:
            return list(await session.scalars(select(SecurityCode).order_by(SecurityCode.id)))

    async def mailed_code(self) -> str:
        code = (await self.letters())[-1].code_text
        assert code is not None
        return code


@pytest.fixture
async def rig(db: Database) -> Rig:
    await add_record(db)
    return Rig(db)


async def test_matching_request_queues_a_letter_with_a_hashed_code(rig: Rig) -> None:
    outcome = await rig.service.request_code(form(), "192.0.2.1")
    assert outcome == RequestOutcome()
    [letter] = await rig.letters()
    [code] = await rig.codes()
    assert letter.registry_number == NUMBER and letter.purpose == "enrol"
    assert (letter.recipient_name, letter.city) == ("Émilie Lefèbvre-D'Amour", "Montréal")
    assert letter.code_text is not None and letter.code_text.replace("-", "") not in code.code_hash
    assert code.expires_at == rig.clock.now + timedelta(days=90)


async def test_non_matching_request_gives_the_identical_outcome_and_pads_the_time(rig: Rig) -> None:
    matched = await rig.service.request_code(form(), "192.0.2.1")
    unknown_number = await rig.service.request_code(
        form(number="LEFE 9055 1799"), "192.0.2.1")  # well-formed, not in the registry
    wrong_card = await rig.service.request_code(form(card_sequence="02"), "192.0.2.1")
    assert matched == unknown_number == wrong_card == RequestOutcome()
    assert len(await rig.letters()) == 1
    # Every path sleeps up to the same floor: none returns before 300 ms.
    assert len(rig.sleeps) == 3 and all(0 < s <= 0.3 for s in rig.sleeps)


async def test_matching_tolerates_case_accents_spaces_hyphens_and_year_month_expiry(rig: Rig) -> None:
    await rig.service.request_code(
        form(family_name="  lefèbvre-d'amour ", given_name="ÉMILIE CLAIRE", card_expiry="2028-03-31"), "192.0.2.1"
    )
    assert len(await rig.letters()) == 1


async def test_field_errors_name_the_field(rig: Rig) -> None:
    cases = [
        (form(number="LEFE 9055 171"), "number"),
        (form(number="2 95 10 99 126 111 94"), "number"),
        (form(family_name="Martin"), "family_name"),
        (form(birth_date="17/05/1990"), "birth_date"),
        (form(card_expiry="mars 2028"), "card_expiry"),
        (form(card_sequence=" "), "card_sequence"),
    ]
    for request, field in cases:
        with pytest.raises(FieldError) as caught:
            await rig.service.request_code(request, "192.0.2.1")
        assert caught.value.field == field
    assert await rig.letters() == []


async def test_under_age_is_refused_from_the_typed_birth_date(db: Database) -> None:
    rig = Rig(db)
    # Nobody is in the registry: the refusal needs no lookup, so it reveals nothing.
    with pytest.raises(UnderAge) as caught:
        await rig.service.request_code(
            form(number="LEFE 1255 1712", birth_date="2012-05-17"), "192.0.2.1")
    assert caught.value.code == "under_age" and caught.value.minimum_age == 14
    # Turning 14 today is enough.
    rig.clock.now = rig.clock.now.replace(year=2026, month=5, day=17)
    await rig.service.request_code(form(number="LEFE 1255 1712", birth_date="2012-05-17"), "192.0.2.1")


async def test_rate_limit_per_ip(db: Database) -> None:
    rig = Rig(db, ip_max_requests=3)
    for _ in range(3):
        await rig.service.request_code(form(), "192.0.2.1")
    with pytest.raises(RateLimited) as caught:
        await rig.service.request_code(form(), "192.0.2.1")
    assert caught.value.code == "rate_limited" and 0 < caught.value.retry_after <= 3600
    await rig.service.request_code(form(), "192.0.2.2")  # another address is not affected


async def test_rate_limit_per_number_counts_unknown_numbers_too(db: Database) -> None:
    rig = Rig(db, number_max_requests=2)
    for ip in ("192.0.2.1", "192.0.2.2"):
        await rig.service.request_code(form(), ip)
    with pytest.raises(RateLimited):
        await rig.service.request_code(form(), "192.0.2.3")


async def test_letters_per_number_cap_is_silent(rig: Rig) -> None:
    for _ in range(5):
        assert await rig.service.request_code(form(), "192.0.2.1") == RequestOutcome()
    assert len(await rig.letters()) == rig.settings.letters_per_number


async def test_activation_creates_a_citizen_account_with_verified_claims(rig: Rig) -> None:
    await rig.service.request_code(form(), "192.0.2.1")
    code = await rig.mailed_code()
    activation = await rig.service.activate("lefe-9055-1712", code.lower(), PASSWORD, ip=IP)
    account = activation.account
    assert not activation.recovered
    assert (account.username, account.kind, account.national_id) == (NUMBER, "citizen", NUMBER)
    assert account.password_hash == f"hashed:{PASSWORD}"
    assert (account.given_name, account.family_name, account.gender) == ("Émilie Claire", "Lefèbvre-D'Amour", "female")
    assert account.birthdate is not None and account.birthdate.isoformat() == "1990-05-17"
    identity = account.identity or {}
    verification = identity["verified_claims"]["verification"]
    assert verification["trust_framework"] == "fr_ins"
    assert verification["evidence"][0]["type"] == "electronic_record"
    assert verification["evidence"][0]["record"]["source"]["name"] == "Assurance Maladie"
    assert identity["verified_claims"]["claims"]["birthdate"] == "1990-05-17"
    assert (identity["identity_status"], identity["health_insurance_number"]) == ("VALI", NUMBER)


async def test_qualified_record_gives_qual_status(db: Database) -> None:
    await add_record(db, qualified="true")
    rig = Rig(db)
    await rig.service.request_code(form(), "192.0.2.1")
    activation = await rig.service.activate(NUMBER, await rig.mailed_code(), PASSWORD, ip=IP)
    assert (activation.account.identity or {})["identity_status"] == "QUAL"


async def test_reused_code_after_activation(rig: Rig) -> None:
    await rig.service.request_code(form(), "192.0.2.1")
    code = await rig.mailed_code()
    await rig.service.activate(NUMBER, code, PASSWORD, ip=IP)
    with pytest.raises(CodeError) as caught:
        await rig.service.activate(NUMBER, code, PASSWORD + "!", ip=IP)
    assert caught.value.code == "code_used"


async def test_superseded_code(rig: Rig) -> None:
    await rig.service.request_code(form(), "192.0.2.1")
    first = await rig.mailed_code()
    await rig.service.request_code(form(), "192.0.2.1")
    second = await rig.mailed_code()
    with pytest.raises(CodeError) as caught:
        await rig.service.activate(NUMBER, first, PASSWORD, ip=IP)
    assert caught.value.code == "code_superseded"
    await rig.service.activate(NUMBER, second, PASSWORD, ip=IP)


async def test_expired_code(rig: Rig) -> None:
    await rig.service.request_code(form(), "192.0.2.1")
    code = await rig.mailed_code()
    rig.clock.now += timedelta(days=90)
    with pytest.raises(CodeError) as caught:
        await rig.service.activate(NUMBER, code, PASSWORD, ip=IP)
    assert caught.value.code == "code_expired"


async def test_wrong_codes_slow_their_source_and_never_lock_the_code(rig: Rig) -> None:
    from idp.enrollment.security_code import generate_code

    await rig.service.request_code(form(), IP)
    right = await rig.mailed_code()
    errors = []
    for _ in range(8):
        try:
            await rig.service.activate(NUMBER, generate_code(), PASSWORD, ip=ATTACKER)
        except CodeError as error:
            errors.append(error.code)
        except RateLimited as error:
            errors.append(f"wait {error.retry_after}")
    # Five checks for one number from one connection, then a wait (15 s first); refusals are not checked.
    assert errors == ["code_invalid"] * 5 + ["wait 15"] * 3
    assert [c.tries for c in await rig.codes()] == [5]
    # The owner, from their own connection, is not slowed and the code still works.
    activation = await rig.service.activate(NUMBER, right, PASSWORD, ip=IP)
    assert not activation.recovered


async def test_the_right_code_is_refused_only_past_the_ceiling(db: Database) -> None:
    from idp.enrollment.security_code import generate_code

    await add_record(db)
    rig = Rig(db, code_max_tries=3, guess_free_tries=100, guess_ip_free_tries=100)
    await rig.service.request_code(form(), IP)
    right = await rig.mailed_code()
    errors = []
    for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):  # a botnet: every source is fresh
        with pytest.raises(CodeError) as caught:
            await rig.service.activate(NUMBER, generate_code(), PASSWORD, ip=ip)
        errors.append(caught.value.code)
    assert errors == ["code_invalid", "code_invalid", "code_locked"]
    with pytest.raises(CodeError) as caught:
        await rig.service.activate(NUMBER, right, PASSWORD, ip=IP)  # even the right code, past the ceiling
    assert caught.value.code == "code_locked"
    # A new code starts afresh.
    await rig.service.request_code(form(), IP)
    await rig.service.activate(NUMBER, await rig.mailed_code(), PASSWORD, ip=IP)


def test_the_default_ceiling_is_out_of_reach_and_safe() -> None:
    from idp.enrollment.security_code import CODE_BITS

    settings = EnrollmentSettings()
    assert settings.code_max_tries == 1_000_000
    assert settings.code_max_tries / 2**CODE_BITS < 1e-12
    # One address that keeps guessing, over the whole life of a code, stays far below the ceiling.
    from idp.enrollment.guessing import Backoff

    backoff = Backoff(settings.guess_ip_free_tries, settings.guess_first_delay_seconds,
                      settings.guess_max_delay_seconds)
    per_window, waited = settings.guess_ip_free_tries + 1, 0.0
    while waited + backoff.delay_before(per_window + 1) <= settings.guess_window_seconds:
        per_window += 1
        waited += backoff.delay_before(per_window)
    lifetime = settings.code_lifetime_days * 86400 / settings.guess_window_seconds * per_window
    assert lifetime < settings.code_max_tries / 10, lifetime


async def test_a_typo_or_a_weak_password_is_refused_without_taking_a_check(rig: Rig) -> None:
    await rig.service.request_code(form(), IP)
    code = await rig.mailed_code()
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    for _ in range(10):
        with pytest.raises(CodeError):
            await rig.service.activate(NUMBER, typo, PASSWORD, ip=IP)
        with pytest.raises(PasswordRejected):
            await rig.service.activate(NUMBER, code, "short", ip=IP)
    await rig.service.activate(NUMBER, code, PASSWORD, ip=IP)


async def test_mistyped_check_symbol_costs_no_try(rig: Rig) -> None:
    await rig.service.request_code(form(), "192.0.2.1")
    code = await rig.mailed_code()
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(CodeError) as caught:
        await rig.service.activate(NUMBER, typo, PASSWORD, ip=IP)
    assert caught.value.code == "code_invalid"
    assert [c.tries for c in await rig.codes()] == [0]


async def test_weak_password_is_refused_before_the_code_is_used(rig: Rig) -> None:
    await rig.service.request_code(form(), "192.0.2.1")
    code = await rig.mailed_code()
    for password, reason in (("short", "password_too_short"), ("motdepasse123", "password_common")):
        with pytest.raises(PasswordRejected) as caught:
            await rig.service.activate(NUMBER, code, password, ip=IP)
        assert caught.value.code == reason
    await rig.service.activate(NUMBER, code, PASSWORD, ip=IP)


async def test_code_for_another_number_is_invalid(rig: Rig, db: Database) -> None:
    other = CITIZEN | {"number": "LEFE 9055 1713"}
    await add_record(db, **other)
    await rig.service.request_code(form(number="LEFE 9055 1713"), "192.0.2.1")
    await rig.service.request_code(form(), "192.0.2.1")
    other_code = (await rig.letters())[0].code_text
    assert other_code is not None
    with pytest.raises(CodeError) as caught:
        await rig.service.activate(NUMBER, other_code, PASSWORD, ip=IP)
    assert caught.value.code == "code_invalid"


async def test_recovery_replaces_the_password_and_flags_it(rig: Rig) -> None:
    await rig.service.request_code(form(), "192.0.2.1")
    await rig.service.activate(NUMBER, await rig.mailed_code(), PASSWORD, ip=IP)
    await rig.service.request_code(form(), "192.0.2.1")
    assert (await rig.letters())[-1].purpose == "recover"
    activation = await rig.service.activate(NUMBER, await rig.mailed_code(), "Une toute nouvelle phrase secrète", ip=IP)
    assert activation.recovered
    async with rig.db.session() as session:
        accounts = list(await session.scalars(select(Account)))
    assert [a.password_hash for a in accounts] == ["hashed:Une toute nouvelle phrase secrète"]


async def test_pending_letters_lists_the_outbox(rig: Rig) -> None:
    await rig.service.request_code(form(), "192.0.2.1")
    [letter] = await rig.service.pending_letters()
    assert letter.code_text == await rig.mailed_code()


def test_short_secret_key_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        EnrollmentService(db, MemoryStore(), EnrollmentSettings(), b"short", hash_password=str)


async def test_wrong_codes_for_a_number_without_code_answer_the_same(rig: Rig) -> None:
    from idp.enrollment.security_code import generate_code

    async def six_guesses(number: str) -> list[str]:
        errors = []
        for _ in range(6):
            with pytest.raises((CodeError, RateLimited)) as caught:
                await rig.service.activate(number, generate_code(), PASSWORD, ip=IP)
            errors.append(caught.value.code)
        return errors

    await rig.service.request_code(form(), "192.0.2.1")
    with_code = await six_guesses(NUMBER)
    without_code = await six_guesses("2 95 10 99 126 111 93")  # never mailed, not even in the registry
    assert with_code == without_code == ["code_invalid"] * 5 + ["rate_limited"]


async def test_wrong_codes_for_a_number_without_code_reach_the_same_ceiling(db: Database) -> None:
    from idp.enrollment.security_code import generate_code

    await add_record(db)
    rig = Rig(db, code_max_tries=3, guess_free_tries=100, guess_ip_free_tries=100)
    await rig.service.request_code(form(), IP)
    answers = []
    for number in (NUMBER, "2 95 10 99 126 111 93"):
        codes = []
        for _ in range(4):
            with pytest.raises(CodeError) as caught:
                await rig.service.activate(number, generate_code(), PASSWORD, ip=IP)
            codes.append(caught.value.code)
        answers.append(codes)
    assert answers[0] == answers[1] == ["code_invalid"] * 2 + ["code_locked"] * 2
