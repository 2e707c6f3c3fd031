"""What the delegation pages show, in the person's language: the service's plain values (`DelegationView`,
`NotificationView`, the audit history) turned into the small dictionaries the templates read.

Nothing here decides anything: the state a delegation is shown in comes from `policy.lapse_rule` (a delegation
whose end or age limit has passed shows as ended even before the lapse job has marked it), and which buttons a
teenager gets from the same age window `policy.check_consent` applies. Dates are read in the jurisdiction's time
zone, as the policy reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from babel.dates import format_date, format_time

from idp.delegation import errors, policy
from idp.delegation.config import DelegationSettings
from idp.delegation.history import ACTING_CHOSEN, TOKEN_ISSUED, ActedFor
from idp.delegation.interfaces import DelegationView, NotificationView, Party
from idp.delegation.lookups import Person, Structure
from idp.delegation.page_forms import SCOPE_LABELS
from idp.http.i18n import translations

__all__ = ["HISTORY_TEXTS", "KIND_LABELS", "MOMENT", "NOTICE_TEXTS", "PageText", "Sorted", "history_entry", "notice",
           "sort_delegations"]

KIND_LABELS = {"assistant": "Assistant", "proxy": "Proxy", "guardian": "Parent or guardian"}
STATUS_LABELS = {
    "pending": "Waiting for an answer", "active": "In force", "declined": "Declined", "revoked": "Ended",
    "expired": "Ended",
}
NOTICE_TEXTS = {
    "delegation:created": "{actor} gave {delegate} the right to act for you.",
    "delegation:invited": "{principal} asks you to act for them. Answer the invitation on this page.",
    "delegation:revoked": "{actor} ended the right of {delegate} to act for you.",
}
ACTORS = {"admin": "An administrator", "registry": "Your health insurer's records", "job": "Mandat"}
NO_ACCOUNT = "an account that no longer exists"
MOMENT = "{date} at {time}"
# What a "who acted for me" entry says after the actor's name, by audit tag.
HISTORY_TEXTS = {ACTING_CHOSEN: "chose to act for you on {client}",
                 TOKEN_ISSUED: "received access on your behalf for {client}"}
_CONSENT_EXPIRY = (errors.TeenConsentRequired.rule, errors.TeenConsentWithdrawn.rule)


class PageText:
    """Translations and dates for one locale and one jurisdiction."""

    def __init__(self, locale: str, settings: DelegationSettings) -> None:
        self.locale = locale
        self.settings = settings
        self.zone = settings.zone()
        self._trans = translations(locale)

    def __call__(self, message: str, **values: Any) -> str:
        text = self._trans.gettext(message)
        return text.format(**values) if values else text

    def day(self, value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(self.zone).date()
        return format_date(value, format="long", locale=self.locale)

    def moment(self, value: datetime) -> str:
        local = value.astimezone(self.zone)
        return self(MOMENT, date=format_date(local.date(), format="long", locale=self.locale),
                    time=format_time(local.time(), format="short", locale=self.locale))

    def last_day(self, until: datetime) -> date:
        """The last day of access when access ends at `until` (a closing midnight belongs to the day before)."""
        return (until - timedelta(microseconds=1)).astimezone(self.zone).date()

    def scopes(self, scopes: Iterable[str]) -> list[str]:
        return [self(SCOPE_LABELS[s]) if s in SCOPE_LABELS else s for s in scopes if s != "openid"]

    def who(self, value: str | None, people: Mapping[str, Person]) -> str:
        """An actor as recorded (an account id, `admin:…`, `registry`, `job:…`) as a person reads it."""
        if not value:
            return self(NO_ACCOUNT)
        if value in people:
            return people[value].name
        prefix = value.split(":", 1)[0]
        return self(ACTORS[prefix]) if prefix in ACTORS else self(NO_ACCOUNT)


def effective_status(view: DelegationView, principal_birthdate: date | None, now: datetime,
                     settings: DelegationSettings) -> tuple[str, str | None]:
    """(status, the rule that ended it) as of `now`: a live delegation past its end or age rule shows ended."""
    stored = policy.StoredDelegation(
        id=view.id, principal_id=view.principal_id, delegate_id=view.delegate_id, kind=view.kind, scopes=view.scopes,
        context=view.context, valid_from=view.valid_from, valid_until=view.valid_until, status=view.status,
        expiry_reason=view.expiry_reason, teen_consent_at=view.teen_consent_at,
        teen_consent_withdrawn_at=view.teen_consent_withdrawn_at)
    rule = policy.lapse_rule(stored, Party(view.principal_id, "citizen", birthdate=principal_birthdate),
                             now, settings)
    if rule is not None:
        return "expired", rule
    return view.status, view.expiry_reason


@dataclass(slots=True)
class Sorted:
    """One person's delegations, in the page's sections."""

    invitations: list[dict[str, Any]]  # proxies waiting for my answer
    given: list[dict[str, Any]]  # live, I am the principal (guardians aside)
    received: list[dict[str, Any]]  # live, I am the delegate
    guardians: list[dict[str, Any]]  # my parents or guardians (I am the child)
    ended: list[dict[str, Any]]


def _ended_on(view: DelegationView, status: str, now: datetime) -> datetime | None:
    if status == "declined":
        return view.responded_at or view.updated_at
    if status == "revoked":
        return view.revoked_at or view.updated_at
    if status == "expired":
        return view.expired_at or min(view.valid_until, now)
    return None


def _item(text: PageText, view: DelegationView, other: str, status: str, structures: Mapping[str, Structure],
          now: datetime, **extra: Any) -> dict[str, Any]:
    place = structures.get(view.context) if view.context else None
    ended = _ended_on(view, status, now)
    return {
        "ended_on": text.day(ended) if ended else None, "ended_iso": ended.isoformat() if ended else None,
        "id": view.id, "kind": view.kind, "kind_label": text(KIND_LABELS.get(view.kind, view.kind)),
        "other": other, "status": status, "status_label": text(STATUS_LABELS.get(status, status)),
        "scopes": text.scopes(view.scopes), "until": text.day(text.last_day(view.valid_until)),
        "until_iso": text.last_day(view.valid_until).isoformat(),
        "place": f"{place.label}, {place.place}" if place and place.place else (place.label if place else view.context),
        **extra,
    }


def sort_delegations(text: PageText, me: Party, given: list[DelegationView], received: list[DelegationView],
                     people: Mapping[str, Person], structures: Mapping[str, Structure], now: datetime) -> Sorted:
    settings = text.settings
    out = Sorted([], [], [], [], [])
    today = policy.local_date(now, text.zone)
    age = policy.age_on(me.birthdate, today) if me.birthdate else None
    window = (settings.consent_rule and age is not None
              and settings.age_limit <= age < settings.guardian_consent_until_age)
    for view in given:
        other = people.get(view.delegate_id)
        status, rule = effective_status(view, me.birthdate, now, settings)
        if view.kind == "guardian":
            name = other.name if other else text(NO_ACCOUNT)
            consent_state = None
            if window and (status in ("active", "pending") or rule in _CONSENT_EXPIRY):
                if status == "active" and view.teen_consents:
                    consent_state = "given"
                elif view.teen_consent_withdrawn_at is not None and not view.teen_consents:
                    consent_state = "withdrawn"
                else:
                    consent_state = "needed"
            elif status not in ("active", "pending"):
                out.ended.append(_item(text, view, name, status, structures, now, direction="guardian"))
                continue
            out.guardians.append(_item(
                text, view, name, status, structures, now, consent=consent_state,
                consent_at=text.day(view.teen_consent_at), withdrawn_at=text.day(view.teen_consent_withdrawn_at)))
            continue
        # A delegate's name shows once they have agreed (or an administrator made it): before, the username that
        # was typed, so that a username never reveals a name (page_forms: no account enumeration).
        agreed = view.source != "self" or (view.responded_at is not None and view.status != "declined")
        shown = (other.name if agreed else other.username) if other else text(NO_ACCOUNT)
        target = out.given if status in ("active", "pending") else out.ended
        target.append(_item(text, view, shown, status, structures, now, direction="given"))
    for view in received:
        principal = people.get(view.principal_id)
        name = principal.name if principal else text(NO_ACCOUNT)
        status, _rule = effective_status(view, principal.birthdate if principal else None, now, settings)
        if status == "pending":
            out.invitations.append(_item(text, view, name, status, structures, now, direction="received"))
        elif status == "active":
            out.received.append(_item(text, view, name, status, structures, now, direction="received"))
        else:
            out.ended.append(_item(text, view, name, status, structures, now, direction="received"))
    out.ended.sort(key=lambda item: item["ended_iso"] or "", reverse=True)
    return out


def notice(text: PageText, item: NotificationView, view: DelegationView | None,
           people: Mapping[str, Person]) -> dict[str, Any]:
    """A delegation notification in the reader's language (the stored English sentence when its event is new)."""
    message = item.message
    if view is not None and item.event in NOTICE_TEXTS:
        actor = view.revoked_by if item.event == "delegation:revoked" else view.created_by
        message = text(NOTICE_TEXTS[item.event], actor=text.who(actor, people),
                       principal=text.who(view.principal_id, people), delegate=text.who(view.delegate_id, people))
    return {"id": item.id, "text": message, "at": text.moment(item.created_at), "at_iso": item.created_at.isoformat(),
            "unread": item.read_at is None}


def history_entry(text: PageText, entry: ActedFor, people: Mapping[str, Person],
                  clients: Mapping[str, str]) -> dict[str, Any]:
    client = clients.get(entry.client_id or "", entry.client_id or "")
    return {"id": entry.id, "actor": text.who(entry.actor_id, people),
            "what": text(HISTORY_TEXTS.get(entry.tag, HISTORY_TEXTS[TOKEN_ISSUED]), client=client),
            "at": text.moment(entry.at), "at_iso": entry.at.isoformat(), "scopes": text.scopes(entry.scopes),
            "signed_in": entry.tag == ACTING_CHOSEN}
