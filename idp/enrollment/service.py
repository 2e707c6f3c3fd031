"""Citizen enrollment: request a mailed security code, then activate (or recover) an account with it.

**No oracle.** `request_code` answers the same `RequestOutcome` whether or not a record matched, and takes at
least `request_min_duration_ms`, so neither the page nor its timing tells whether a person is insured here. The
refusals it can give depend only on what was typed or on counters kept for everyone: malformed fields, rate limits
(per IP, and per number whether or not it exists), and under-age, computed from the birth date the citizen typed
(a younger birth date can never match the record, so the registry is not needed to refuse). The mailbox is
protected by a silent cap on letters per number.

**Codes.** A new code supersedes the previous live one. `activate` checks the password policy and the code's
check symbol first (pure, so a weak password or a typo never costs a try), then asks the guess backoff
(guessing.py) for one check from the client's IP, then checks the code. Wrong codes are never locked by a few
tries, which would let anyone who knows a number destroy the code mailed to that citizen: the backoff slows the
source of the guesses instead, and `SecurityCode.tries` only enforces a ceiling (`code_max_tries`, a million)
that the code's 60 bits keep safe. A right code is consumed with a conditional UPDATE, so two concurrent
activations cannot both succeed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from idp.accounts.models import Account
from idp.db import Database, utcnow
from idp.enrollment.config import EnrollmentSettings
from idp.enrollment.errors import CodeError, CodeErrorCode, EnrollmentError, FieldError, RateLimited, UnderAge
from idp.enrollment.guessing import Backoff, GuessGuard
from idp.enrollment.identifiers import check_number_against, parse_number
from idp.enrollment.interfaces import Activation, Clock, CodeRequest, PasswordHasher, RequestOutcome, Sleep
from idp.enrollment.matching import normalise_name, same_given_name, same_name
from idp.enrollment.models import OutboxLetter, RegistryRecord, SecurityCode
from idp.enrollment.passwords import check_password
from idp.enrollment.registry_rows import parse_card_expiry
from idp.enrollment.security_code import generate_code, hash_code, parse_code
from idp.store import EphemeralStore

__all__ = ["EnrollmentService", "age_on"]

_CODE_TEXT: dict[CodeErrorCode, str] = {
    "code_expired": "This code has expired. Please request a new one.",
    "code_invalid": "This code is not valid. Please check it against your letter.",
    # Only past the `code_max_tries` ceiling (a million): out of reach of any single source.
    "code_locked": "Too many wrong codes: this code no longer works. Please request a new one.",
    "code_used": "This code has already been used. Please request a new one if you need to.",
    "code_superseded": "A newer code was mailed to you: please use the code from your most recent letter.",
}
_GENDER = {"F": "female", "M": "male", "X": "other"}


def _code_error(code: CodeErrorCode, detail: str = "") -> CodeError:
    return CodeError(code, _CODE_TEXT[code], detail=detail)


def age_on(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


@dataclass(frozen=True, slots=True)
class _ValidRequest:
    number: str
    family_name: str
    given_name: str
    birth_date: date
    card_sequence: str
    card_expiry: date


def _validate(form: CodeRequest) -> _ValidRequest:
    number = parse_number(form.number)
    for name in ("family_name", "given_name", "card_sequence", "card_expiry", "birth_date"):
        if not getattr(form, name).strip():
            raise FieldError(name, "missing", "This field is required.")
    try:
        birth_date = date.fromisoformat(form.birth_date.strip())
    except ValueError:
        raise FieldError("birth_date", "format", "Please enter your birth date as YYYY-MM-DD.") from None
    card_expiry = parse_card_expiry(form.card_expiry.strip())
    # Catches typos before any lookup: the NAM must agree with the names and date typed next to it.
    check_number_against(number, family_name=form.family_name, given_name=form.given_name,
                         birth_date=birth_date, sex=None)
    return _ValidRequest(number.value, form.family_name, form.given_name, birth_date,
                         normalise_name(form.card_sequence), card_expiry)


def _matches(record: RegistryRecord, request: _ValidRequest) -> bool:
    # Québec cards print the expiry as year and month only, so compare no finer than that.
    expiry_ok = record.card_expiry is not None and (record.card_expiry.year, record.card_expiry.month) == (
        request.card_expiry.year, request.card_expiry.month)
    sequence_ok = record.card_sequence is not None and normalise_name(record.card_sequence) == request.card_sequence
    return (
        record.birth_date == request.birth_date
        and same_name(request.family_name, record.family_name)
        and same_given_name(request.given_name, record.given_names)
        and expiry_ok
        and sequence_ok
    )


class EnrollmentService:
    def __init__(
        self,
        db: Database,
        store: EphemeralStore,
        settings: EnrollmentSettings,
        secret_key: bytes,
        clock: Clock = utcnow,
        *,
        hash_password: PasswordHasher,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        observe: Callable[[str, str], None] | None = None,
    ) -> None:
        if len(secret_key) < 32:
            raise ValueError("the enrollment secret key must be at least 32 bytes")
        self._db = db
        self._store = store
        self._settings = settings
        self._secret_key = secret_key
        self._clock = clock
        self._hash_password = hash_password
        self._sleep = sleep
        self._monotonic = monotonic
        # Told (number, "queued" | "no_match" | "letters_capped") after each well-formed request: for the audit
        # log only, never for anything the requester sees.
        self._observe = observe
        self._guesses = GuessGuard(
            store,
            pair=Backoff(settings.guess_free_tries, settings.guess_first_delay_seconds,
                         settings.guess_max_delay_seconds),
            ip=Backoff(settings.guess_ip_free_tries, settings.guess_first_delay_seconds,
                       settings.guess_max_delay_seconds),
            window=settings.guess_window_seconds,
        )

    # --- request a code ---------------------------------------------------------------------------------

    async def request_code(self, form: CodeRequest, ip: str) -> RequestOutcome:
        s = self._settings
        await self._limit(f"enrol:ip:{ip}", s.ip_max_requests, s.ip_window_seconds)
        request = _validate(form)
        if age_on(request.birth_date, self._clock().date()) < s.minimum_age:
            raise UnderAge(s.minimum_age)
        await self._limit(f"enrol:number:{request.number}", s.number_max_requests, s.number_window_seconds)
        started = self._monotonic()
        outcome = await self._issue_if_match(request)
        # Pad to the floor so a match (two inserts, an update) takes as long as a miss (one indexed read).
        remaining = s.request_min_duration_ms / 1000 - (self._monotonic() - started)
        if remaining > 0:
            await self._sleep(remaining)
        if self._observe is not None:
            self._observe(request.number, outcome)
        return RequestOutcome()

    async def _limit(self, key: str, maximum: int, window: int) -> None:
        count = await self._store.incr(key, window)
        if count > maximum:
            retry_after = await self._store.ttl(key)
            raise RateLimited(retry_after if retry_after is not None else float(window), detail=key)

    async def _issue_if_match(self, request: _ValidRequest) -> str:
        async with self._db.transaction() as session:
            # FOR UPDATE serialises concurrent requests for one number, so superseding leaves one live code.
            record = await session.scalar(
                select(RegistryRecord).where(RegistryRecord.number == request.number).with_for_update()
            )
            if record is None or not _matches(record, request):
                return "no_match"
            s = self._settings
            if await self._store.incr(f"enrol:letters:{record.number}", s.number_window_seconds) > s.letters_per_number:
                return "letters_capped"
            account = await session.scalar(select(Account.id).where(Account.username == record.number))
            await self._create_code(session, record, "enrol" if account is None else "recover")
            return "queued"

    async def _create_code(self, session: AsyncSession, record: RegistryRecord, purpose: str) -> None:
        now = self._clock()
        await session.execute(
            update(SecurityCode)
            .where(SecurityCode.registry_number == record.number, SecurityCode.consumed_at.is_(None),
                   SecurityCode.superseded_at.is_(None))
            .values(superseded_at=now)
        )
        code = generate_code()
        expires_at = now + timedelta(days=self._settings.code_lifetime_days)
        security_code = SecurityCode(
            code_hash=hash_code(self._secret_key, number=record.number, purpose=purpose, code=code),
            registry_number=record.number, purpose=purpose, created_at=now, expires_at=expires_at,
        )
        session.add(security_code)
        await session.flush()
        session.add(OutboxLetter(
            security_code_id=security_code.id, registry_number=record.number, purpose=purpose,
            recipient_name=f"{record.given_names.split()[0]} {record.family_name}",
            address_line1=record.address_line1, address_line2=record.address_line2,
            postal_code=record.postal_code, city=record.city, country=record.country,
            code_text=code, expires_at=expires_at, created_at=now,
        ))

    # --- activate ---------------------------------------------------------------------------------------

    async def activate(self, number: str, code: str, password: str, *, ip: str,
                       then: Callable[[Activation], Awaitable[None]] | None = None) -> Activation:
        """Open or recover the account of `number`. `ip` is the client's: checks are throttled per IP and per
        (number, IP), so `RateLimited` (with `retry_after`) refuses a source that guessed too much, before any
        lookup, while the same number from another connection is unaffected.

        `then` runs inside the same transaction once the account is set (a recovery's revocations, the audit
        event): a crash leaves either all of it or none of it."""
        normalised = parse_number(number).value
        check_password(password)
        canonical = parse_code(code)
        verdict = await self._guesses.admit(normalised, ip)
        if not verdict.allowed:
            raise RateLimited(verdict.retry_after, detail="code checks from this IP")
        hashes = [hash_code(self._secret_key, number=normalised, purpose=purpose, code=canonical)
                  for purpose in ("enrol", "recover")]
        async with self._db.transaction() as session:
            wrong_code = await self._consume(session, normalised, hashes)
            if wrong_code is None:
                # Hash only once the code is good: argon2 costs ~0.1 s of CPU, not to be spent on wrong codes.
                password_hash = await asyncio.to_thread(self._hash_password, password)
                activation = await self._upsert_account(session, normalised, password_hash)
                if then is not None:
                    await then(activation)
        if wrong_code is None:
            await self._guesses.succeeded(normalised, ip)
            return activation
        # A wrong code is raised only after the transaction, so its try counter is committed.
        raise wrong_code

    async def _consume(self, session: AsyncSession, number: str, hashes: list[str]) -> CodeError | None:
        """Consume the presented code, or return the wrong-code error to raise once the try is committed."""
        now = self._clock()
        max_tries = self._settings.code_max_tries
        current = await session.scalar(
            select(SecurityCode)
            .where(SecurityCode.registry_number == number, SecurityCode.consumed_at.is_(None),
                   SecurityCode.superseded_at.is_(None))
            .order_by(SecurityCode.created_at.desc(), SecurityCode.id.desc())
            .limit(1)
        )
        presented = await session.scalar(
            select(SecurityCode).where(SecurityCode.registry_number == number, SecurityCode.code_hash.in_(hashes))
        )
        if presented is None:
            if current is None or current.expires_at <= now:
                # No live code: count the guess anyway against the same ceiling, so the answers to random codes
                # do not reveal whether a code was mailed for this number (and so that it exists).
                window = self._settings.code_lifetime_days * 86400
                misses = await self._store.incr(f"enrol:activate:{number}", window)
                code: CodeErrorCode = "code_locked" if misses >= max_tries else "code_invalid"
                return _code_error(code, f"no live code for this number, miss {misses}")
            if current.tries >= max_tries:
                raise _code_error("code_locked")
            tries = await session.scalar(
                update(SecurityCode).where(SecurityCode.id == current.id)
                .values(tries=SecurityCode.tries + 1).returning(SecurityCode.tries)
            )
            if tries is not None and tries >= max_tries:
                # The ceiling: the last allowed wrong code already says "locked", so the citizen asks for a new one.
                return _code_error("code_locked", f"code {current.id} locked after {tries} wrong tries")
            return _code_error("code_invalid", f"wrong code, try {tries} on code {current.id}")
        if presented.consumed_at is not None:
            raise _code_error("code_used", f"code {presented.id}")
        if presented.superseded_at is not None:
            raise _code_error("code_superseded", f"code {presented.id}")
        if presented.tries >= max_tries:
            raise _code_error("code_locked", f"code {presented.id}")
        if presented.expires_at <= now:
            raise _code_error("code_expired", f"code {presented.id}")
        consumed = await session.execute(
            update(SecurityCode)
            .where(SecurityCode.id == presented.id, SecurityCode.consumed_at.is_(None),
                   SecurityCode.superseded_at.is_(None), SecurityCode.tries < max_tries)
            .values(consumed_at=now)
        )
        if getattr(consumed, "rowcount", 0) != 1:
            raise _code_error("code_used", f"code {presented.id} consumed concurrently")
        return None

    async def _upsert_account(self, session: AsyncSession, number: str, password_hash: str) -> Activation:
        record = await session.scalar(select(RegistryRecord).where(RegistryRecord.number == number))
        if record is None:
            raise EnrollmentError("Your record is no longer in the registry.", detail=f"{number} removed")
        account = await session.scalar(select(Account).where(Account.username == number))
        recovered = account is not None
        if account is None:
            account = Account(username=number, kind="citizen")
            session.add(account)
        elif account.kind != "citizen":
            raise EnrollmentError("This number belongs to another kind of account.", detail=f"{account.id}")
        now = self._clock()
        account.password_hash = password_hash
        account.status = "active"
        account.given_name = record.given_names
        account.family_name = record.family_name
        account.birthdate = record.birth_date
        account.gender = _GENDER.get(record.sex)
        account.national_id = record.number
        account.identity = self.identity_claims(record, now)
        account.updated_at = now
        await session.flush()
        return Activation(account=account, recovered=recovered)

    def identity_claims(self, record: RegistryRecord, verified_at: datetime) -> dict[str, Any]:
        """The `identity` JSON of a citizen account: OpenID Connect for Identity Assurance 1.0 `verified_claims`,
        the INS-style status, and the FranceConnect pivot extras."""
        s = self._settings
        address = {
            "street_address": "\n".join(line for line in (record.address_line1, record.address_line2) if line),
            "postal_code": record.postal_code, "locality": record.city, "country": record.country,
        }
        return {
            "verified_claims": {
                "verification": {
                    "trust_framework": s.trust_framework,
                    "time": verified_at.isoformat(timespec="seconds"),
                    "evidence": [{
                        "type": "electronic_record",
                        # data: the typed identity matched the register; kbv: the citizen knew the card's sequence
                        # number and expiry; the mailed code proved they receive mail at the address on file.
                        "check_details": [{"check_method": "data"}, {"check_method": "kbv"}],
                        "time": record.updated_at.isoformat(timespec="seconds"),
                        "record": {
                            "type": "health_insurance_register",
                            "source": {"name": s.registry_name, "country_code": s.registry_country},
                        },
                    }],
                },
                "claims": {
                    "given_name": record.given_names,
                    "family_name": record.family_name,
                    "birthdate": record.birth_date.isoformat(),
                    "gender": _GENDER.get(record.sex),
                    "address": address,
                },
            },
            "identity_status": "QUAL" if record.qualified else "VALI",
            "health_insurance_number": record.number,
            "health_insurance_number_kind": record.kind,
            "birthplace": record.birthplace,
            "birthcountry": record.birthcountry,
        }

    # --- demo outbox ------------------------------------------------------------------------------------

    async def pending_letters(self, limit: int = 50) -> list[OutboxLetter]:
        """Pending letters, newest first: the demo mode's outbox page shows them (with their code)."""
        async with self._db.session() as session:
            result = await session.scalars(
                select(OutboxLetter).where(OutboxLetter.status == "pending")
                .order_by(OutboxLetter.id.desc()).limit(limit)
            )
            return list(result)
