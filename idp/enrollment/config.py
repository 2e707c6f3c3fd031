"""Enrollment settings: one frozen object read from `MANDAT_ENROLLMENT_*` variables, documented in place.

Built from the process settings with `settings.domain(EnrollmentSettings.from_env)`; a bad value raises
`ConfigurationError` naming the variable, so start-up fails fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from idp.errors import ConfigurationError
from idp.settings import read_env_fields

__all__ = ["EnrollmentSettings"]


def _env(name: str, default: int | str, *, doc: str) -> Any:
    """Declare a setting with its typed default; the metadata keeps its variable name and documentation."""
    return field(default=default, metadata={"env": name, "doc": doc})


@dataclass(frozen=True, slots=True)
class EnrollmentSettings:
    minimum_age: int = _env(
        "MANDAT_ENROLLMENT_MINIMUM_AGE", 14,
        doc="Youngest age allowed to enrol alone (Québec: 14). Younger citizens are refused with `under_age`; "
        "a guardian acts for them through a delegation.",
    )
    code_lifetime_days: int = _env(
        "MANDAT_ENROLLMENT_CODE_LIFETIME_DAYS", 90,
        doc="Days a mailed security code stays valid. Long, because it travels by post.",
    )
    code_max_tries: int = _env(
        # Safe because of the code's entropy: 1,000,000 guesses against a 60-bit code succeed with probability
        # at most 1e6 / 2^60 ≈ 8.7e-13. Low values bring back the lock anyone could trigger with the number alone.
        "MANDAT_ENROLLMENT_CODE_MAX_TRIES", 1_000_000,
        doc="Ceiling on wrong codes tried against one mailed code, from all sources together, before it stops "
        "working (`code_locked`). Far out of reach of the per-source backoff below (`MANDAT_ENROLLMENT_GUESS_*`); "
        "it only bounds what a large botnet could ever try against one code.",
    )
    guess_free_tries: int = _env(
        "MANDAT_ENROLLMENT_GUESS_FREE_TRIES", 5,
        doc="Codes checked for one number from one client IP per `MANDAT_ENROLLMENT_GUESS_WINDOW_SECONDS` "
        "before each further check must wait (429 with Retry-After). Mistyped check symbols do not count.",
    )
    guess_ip_free_tries: int = _env(
        "MANDAT_ENROLLMENT_GUESS_IP_FREE_TRIES", 20,
        doc="Codes checked from one client IP, whatever the numbers, per window before each further check must "
        "wait: one address cannot spread guesses over many numbers.",
    )
    guess_first_delay_seconds: int = _env(
        "MANDAT_ENROLLMENT_GUESS_FIRST_DELAY_SECONDS", 15,
        doc="Wait before the first check past an allowance; it doubles at each further check.",
    )
    guess_max_delay_seconds: int = _env(
        "MANDAT_ENROLLMENT_GUESS_MAX_DELAY_SECONDS", 300,
        doc="Cap of that wait: a source that keeps guessing gets one check per this many seconds, and a person "
        "who mistyped never waits longer.",
    )
    guess_window_seconds: int = _env(
        "MANDAT_ENROLLMENT_GUESS_WINDOW_SECONDS", 3600,
        doc="Fixed window of the code-check counters; at least `MANDAT_ENROLLMENT_GUESS_MAX_DELAY_SECONDS`.",
    )
    ip_max_requests: int = _env(
        "MANDAT_ENROLLMENT_IP_MAX_REQUESTS", 20,
        doc="Code requests per client IP per `MANDAT_ENROLLMENT_IP_WINDOW_SECONDS` before `rate_limited`.",
    )
    ip_window_seconds: int = _env(
        "MANDAT_ENROLLMENT_IP_WINDOW_SECONDS", 3600, doc="Fixed window for the per-IP request limit."
    )
    number_max_requests: int = _env(
        "MANDAT_ENROLLMENT_NUMBER_MAX_REQUESTS", 10,
        doc="Code requests per insurance number (matched or not) per `MANDAT_ENROLLMENT_NUMBER_WINDOW_SECONDS`. "
        "Counted whether or not a record matched, so hitting it reveals nothing.",
    )
    number_window_seconds: int = _env(
        "MANDAT_ENROLLMENT_NUMBER_WINDOW_SECONDS", 86400, doc="Fixed window for the per-number limit."
    )
    letters_per_number: int = _env(
        "MANDAT_ENROLLMENT_LETTERS_PER_NUMBER", 3,
        doc="Letters mailed per number per `MANDAT_ENROLLMENT_NUMBER_WINDOW_SECONDS`. Beyond it a matched "
        "request silently mails nothing (same answer), so nobody can flood a citizen's mailbox.",
    )
    request_min_duration_ms: int = _env(
        "MANDAT_ENROLLMENT_REQUEST_MIN_DURATION_MS", 400,
        doc="Every code request takes at least this long, so a match (which writes a code and a letter) cannot "
        "be told from a miss by timing. Keep it above the slowest matched request you observe.",
    )
    trust_framework: str = _env(
        "MANDAT_ENROLLMENT_TRUST_FRAMEWORK", "fr_ins",
        doc="`verified_claims.verification.trust_framework` (OpenID Connect for Identity Assurance 1.0) written "
        "on activated citizen accounts.",
    )
    registry_name: str = _env(
        "MANDAT_ENROLLMENT_REGISTRY_NAME", "Assurance Maladie",
        doc="Name of the insurer whose registry is the evidence (`evidence[].record.source.name`) and who signs "
        "the letters.",
    )
    registry_country: str = _env(
        "MANDAT_ENROLLMENT_REGISTRY_COUNTRY", "FR",
        doc="ISO 3166-1 alpha-2 country of the insurer registry (`evidence[].record.source.country_code`).",
    )
    activation_url: str = _env(
        "MANDAT_ENROLLMENT_ACTIVATION_URL", "http://localhost:8000/activate",
        doc="Address printed on the letters where the citizen types the code.",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EnrollmentSettings:
        values = read_env_fields(cls, env)
        for f in fields(cls):
            name = str(f.metadata["env"])
            value = values[f.name]
            # Every count and duration must be positive, except the padding, which 0 switches off.
            if isinstance(value, int) and value == 0 and name != "MANDAT_ENROLLMENT_REQUEST_MIN_DURATION_MS":
                raise ConfigurationError(f"{name} must be positive, got 0")
            if isinstance(value, str) and not value.strip():
                raise ConfigurationError(f"{name} must not be empty")
        settings = cls(**values)
        if settings.guess_window_seconds < settings.guess_max_delay_seconds:
            raise ConfigurationError("MANDAT_ENROLLMENT_GUESS_WINDOW_SECONDS must be at least "
                                     "MANDAT_ENROLLMENT_GUESS_MAX_DELAY_SECONDS")
        if settings.guess_first_delay_seconds > settings.guess_max_delay_seconds:
            raise ConfigurationError("MANDAT_ENROLLMENT_GUESS_FIRST_DELAY_SECONDS must not exceed "
                                     "MANDAT_ENROLLMENT_GUESS_MAX_DELAY_SECONDS")
        if len(settings.registry_country) != 2 or not settings.registry_country.isalpha():
            raise ConfigurationError("MANDAT_ENROLLMENT_REGISTRY_COUNTRY must be a 2-letter ISO country code")
        return settings

    @classmethod
    def env_name(cls, attribute: str) -> str:
        return str(next(f.metadata["env"] for f in fields(cls) if f.name == attribute))
