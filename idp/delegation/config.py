"""Delegation settings: one frozen object read from `MANDAT_JURISDICTION` and `MANDAT_DELEGATION_*`, documented
in place.

`MANDAT_JURISDICTION` picks the defaults (Québec or France); every other variable overrides one of them. Built
from the process settings with `settings.domain(DelegationSettings.from_env)`; a bad value raises
`ConfigurationError` naming the variable, so start-up fails fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from idp.errors import ConfigurationError
from idp.settings import env_field, read_env_fields

__all__ = ["ACCOUNT_KINDS_FOR", "DEFAULTS", "KINDS", "NEVER_DELEGABLE", "AgeBand", "DelegationSettings"]

KINDS = ("assistant", "guardian", "proxy")

# Signing a prescription is a professional's personal act: it is never delegable, whatever the configuration says.
# `from_env` refuses a catalogue that lists it, and the policy refuses it even from a hand-built settings object.
NEVER_DELEGABLE = frozenset({"prescription.sign"})

# Which account kinds may be the delegate of each kind of delegation.
ACCOUNT_KINDS_FOR: dict[str, frozenset[str]] = {
    "assistant": frozenset({"staff", "citizen"}),
    "guardian": frozenset({"citizen"}),
    "proxy": frozenset({"citizen"}),
}


@dataclass(frozen=True, slots=True)
class AgeBand:
    """From `from_age` (inclusive) until the next band, a guardian gets at most `scopes` (`None`: everything
    the delegation lists)."""

    from_age: int
    scopes: frozenset[str] | None


# Per-jurisdiction defaults of the settings that differ. Sources: Québec, Civil Code art. 14 and the Act respecting
# health services (a minor of 14 or over consents alone to care and controls access to their record); France,
# Code civil art. 371-1 and 388 (parental authority until 18). The band at 12 narrows what a parent sees of an
# adolescent's record, as Norway's helsenorge does: appointments and the profile, not messages or the record.
DEFAULTS: dict[str, dict[str, Any]] = {
    "qc": {"guardian_age_limit": 14, "guardian_consent": True, "timezone": "America/Toronto", "utc_offset": -5,
           "guardian_age_bands": "0=*;12=openid profile appointments.manage"},
    "fr": {"guardian_age_limit": 18, "guardian_consent": False, "timezone": "Europe/Paris", "utc_offset": 1,
           "guardian_age_bands": "0=*;12=openid profile appointments.manage"},
}


def _parse_bands(raw: str, name: str) -> tuple[AgeBand, ...]:
    bands: list[AgeBand] = []
    for part in (p.strip() for p in raw.split(";")):
        if not part:
            continue
        age_text, sep, scope_text = part.partition("=")
        if not sep or not age_text.strip().isdigit():
            raise ConfigurationError(f"{name}: each band is AGE=scope scope… or AGE=*, got {part!r}")
        words = frozenset(scope_text.replace(",", " ").split())
        bands.append(AgeBand(int(age_text), None if words == {"*"} else words))
    bands.sort(key=lambda band: band.from_age)
    if not bands or bands[0].from_age != 0:
        raise ConfigurationError(f"{name} must start with a band from age 0 (e.g. 0=*)")
    if len({band.from_age for band in bands}) != len(bands):
        raise ConfigurationError(f"{name} lists the same age twice")
    return tuple(bands)


@dataclass(frozen=True, slots=True)
class DelegationSettings:
    jurisdiction: str = env_field(
        "MANDAT_JURISDICTION", "fr",
        doc="`qc` (Québec) or `fr` (France): picks the defaults of the guardian rules below and the time zone "
        "in which birthdays and dates are read.",
    )
    delegable_scopes: tuple[str, ...] = env_field(
        "MANDAT_DELEGATION_SCOPES", "openid,profile,mssante.read,mssante.send,appointments.manage,dmp.read",
        doc="Comma-separated scopes a person may delegate. `prescription.sign` is never delegable: listing it is "
        "a configuration error. Removing a scope takes effect at the next check of every existing delegation.",
    )
    professional_scopes: tuple[str, ...] = env_field(
        "MANDAT_DELEGATION_PROFESSIONAL_SCOPES", "prescription.sign,scope_all,rpps,identity",
        doc="Comma-separated scopes only a health professional may hold. A delegate who is not a professional "
        "(a secretary, a citizen) never gets them, even when a professional delegates to them.",
    )
    assistant_max_days: int = env_field(
        "MANDAT_DELEGATION_ASSISTANT_MAX_DAYS", "365",
        doc="Longest assistant delegation (a professional's staff), in days; renewed yearly by default.",
    )
    proxy_max_days: int = env_field(
        "MANDAT_DELEGATION_PROXY_MAX_DAYS", "1095",
        doc="Longest proxy delegation (a third party a citizen authorised), in days.",
    )
    guardian_max_days: int = env_field(
        "MANDAT_DELEGATION_GUARDIAN_MAX_DAYS", "0",
        doc="Longest guardian delegation in days; 0: only the age limit (or the consent age) ends it.",
    )
    guardian_age_limit: int | None = env_field(
        "MANDAT_DELEGATION_GUARDIAN_AGE_LIMIT", None,
        doc="Age at which a parent's access ends (birthday included). Default: 14 in Québec, 18 in France.",
    )
    guardian_consent: bool | None = env_field(
        "MANDAT_DELEGATION_GUARDIAN_CONSENT", None,
        doc="true: at and after the age limit a parent's access continues only while the teenager consents "
        "(Québec default); false: it ends at the age limit (France default).",
    )
    guardian_consent_until_age: int = env_field(
        "MANDAT_DELEGATION_GUARDIAN_CONSENT_UNTIL_AGE", "18",
        doc="With consent, the age at which a guardian delegation ends anyway (majority): the adult then "
        "authorises a proxy if they want one.",
    )
    guardian_age_bands: str | None = env_field(
        "MANDAT_DELEGATION_GUARDIAN_AGE_BANDS", None,
        doc="What a guardian gets by the child's age: `AGE=scope scope…` bands separated by `;`, `*` meaning "
        "every scope of the delegation; the first band starts at 0. Default for both jurisdictions: "
        "`0=*;12=openid profile appointments.manage`.",
    )
    max_act_depth: int = env_field(
        "MANDAT_DELEGATION_MAX_ACT_DEPTH", "2",
        doc="Deepest RFC 8693 `act` chain accepted: 1 is a delegate acting from the sign-in flow, 2 allows one "
        "token exchange after it.",
    )
    invitations_per_day: int = env_field(
        "MANDAT_DELEGATION_INVITATIONS_PER_DAY", "20",
        doc="Self-service delegations one person may create per day (each notifies someone).",
    )
    job_seconds: int = env_field(
        "MANDAT_DELEGATION_JOB_SECONDS", "300",
        doc="Every this many seconds each server process creates the guardian delegations of parents who now have "
        "an account, revokes those whose registry link disappeared, and marks lapsed delegations `expired` "
        "(idempotent; `0` turns the job off, e.g. when `python -m idp delegation lapse` and `sync-guardians` run "
        "from cron). Checks at use do not wait for it: a delegation past its end never authorises anything.",
    )
    timezone: str | None = env_field(
        "MANDAT_DELEGATION_TIMEZONE", None,
        doc="IANA time zone in which dates (birthdays, `--until`) are read. Default: America/Toronto (qc), "
        "Europe/Paris (fr). Without a time-zone database the jurisdiction's standard offset is used.",
    )
    bands: tuple[AgeBand, ...] = field(default=(AgeBand(0, None),), metadata={"doc": "Parsed age bands."})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DelegationSettings:
        values = read_env_fields(cls, env)
        jurisdiction = values["jurisdiction"].strip().lower()
        if jurisdiction not in DEFAULTS:
            raise ConfigurationError(f"MANDAT_JURISDICTION must be qc or fr, got {values['jurisdiction']!r}")
        values["jurisdiction"] = jurisdiction
        defaults = DEFAULTS[jurisdiction]
        for name in ("guardian_age_limit", "guardian_consent", "guardian_age_bands", "timezone"):
            if values[name] is None:
                values[name] = defaults[name]
        never = NEVER_DELEGABLE.intersection(values["delegable_scopes"])
        if never:
            raise ConfigurationError(f"MANDAT_DELEGATION_SCOPES lists {', '.join(sorted(never))}, which is never "
                                     "delegable")
        for name in ("assistant_max_days", "proxy_max_days", "guardian_age_limit", "max_act_depth",
                     "guardian_consent_until_age", "invitations_per_day"):
            if values[name] <= 0:
                raise ConfigurationError(f"{cls.env_name(name)} must be positive")
        if values["guardian_consent_until_age"] < values["guardian_age_limit"]:
            raise ConfigurationError("MANDAT_DELEGATION_GUARDIAN_CONSENT_UNTIL_AGE must not be below "
                                     "MANDAT_DELEGATION_GUARDIAN_AGE_LIMIT")
        values["bands"] = _parse_bands(values["guardian_age_bands"], "MANDAT_DELEGATION_GUARDIAN_AGE_BANDS")
        settings = cls(**values)
        settings.zone()  # fail at start-up on an unknown zone
        return settings

    @classmethod
    def for_jurisdiction(cls, jurisdiction: str, **overrides: str) -> DelegationSettings:
        """The defaults of one jurisdiction, with `MANDAT_*` overrides (tests, demos)."""
        return cls.from_env({"MANDAT_JURISDICTION": jurisdiction, **overrides})

    @classmethod
    def env_name(cls, attribute: str) -> str:
        from dataclasses import fields

        return str(next(f.metadata["env"] for f in fields(cls) if f.name == attribute))

    @property
    def age_limit(self) -> int:
        return self.guardian_age_limit if self.guardian_age_limit is not None else DEFAULTS[self.jurisdiction][
            "guardian_age_limit"]

    @property
    def consent_rule(self) -> bool:
        return bool(self.guardian_consent if self.guardian_consent is not None else DEFAULTS[self.jurisdiction][
            "guardian_consent"])

    def max_days(self, kind: str) -> int | None:
        """Longest delegation of `kind` in days; None: no fixed maximum (guardians end at the age limit)."""
        days = {"assistant": self.assistant_max_days, "proxy": self.proxy_max_days,
                "guardian": self.guardian_max_days}[kind]
        return days or None

    def zone(self) -> tzinfo:
        name = self.timezone or DEFAULTS[self.jurisdiction]["timezone"]
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            if self.timezone not in (None, DEFAULTS[self.jurisdiction]["timezone"]):
                raise ConfigurationError(f"MANDAT_DELEGATION_TIMEZONE: unknown time zone {name!r}") from None
            # Slim images may lack the tz database: the standard offset is off by at most the summer hour.
            return timezone(timedelta(hours=DEFAULTS[self.jurisdiction]["utc_offset"]))
