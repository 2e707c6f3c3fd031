"""What the self-service delegation forms read, and the plain sentence each refusal becomes on a page.

**Forms.** A form is read into a small frozen value before anything is looked up: the username (trimmed, at most
200 characters, like the sign-in form), the ticked rights (`scope`, at most the catalogue's size), the end date
(`YYYY-MM-DD` from a date field, or `DD/MM/YYYY` typed where the browser has no date field; empty: the longest the
kind allows) and, for an assistant, the place of practice. A malformed field is refused here, with the field it
concerns; everything else is the policy's to decide, so a refusal on a page names the same rule as the CLI.

An end date is a whole day in the jurisdiction's time zone: access ends at the midnight that closes it. The last
day offered is the last one whose closing midnight falls within the kind's maximum duration from now.

`openid` (signing in on the person's behalf) is not a box to tick: every delegation needs it to be of any use,
so it is added to what the person ticked (when the catalogue lists it), and ticking nothing is `scope_missing`.

**No account enumeration.** An invitation names its delegate by username, so the form could tell a stranger which
usernames exist. Inviting an unknown username therefore answers exactly like inviting a known one who cannot
accept (a professional's or a locked account for a proxy; a professional's or a locked account for an
assistant): the same status (400), the same sentence, on the same re-displayed form, and it costs the same
daily allowance (`MANDAT_DELEGATION_INVITATIONS_PER_DAY`), because the page sends the unknown username through
`DelegationService.create` too, with an id no account has. What the person inviting could refuse on their own side
(acting for someone else, not being a citizen, not practising at the chosen place, a malformed date) is checked
before the username is even looked up, so it answers the same for every username.

What remains is inherent, and bounded: an invitation to someone who *can* accept succeeds and shows in the
inviter's list; each try, successful or not, uses one of the day's invitations. The lists show a delegate by the
username that was typed until they have agreed (a proxy who accepted; an assistant, who accepts nothing, stays a
username), so that typing a username never reveals the name of the person behind it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, timedelta
from typing import Any

from idp.delegation import errors, policy
from idp.delegation.config import DelegationSettings

__all__ = [
    "ACTING_FOR",
    "CANNOT_ACCEPT",
    "FORM_TEXTS",
    "NOBODY",
    "NO_SUCH_ASSISTANT",
    "NO_SUCH_INVITEE",
    "RULE_TEXTS",
    "SCOPE_LABELS",
    "UNKNOWN_RULE",
    "FormProblem",
    "Grant",
    "Problem",
    "choosable_scopes",
    "end_of_day",
    "last_day",
    "read_grant",
]

USERNAME_MAX = 200
# Passed to `DelegationService.create` as the delegate of an invitation to an unknown username: no account has
# this id (ids are 32 hex digits), so the service refuses it `unknown_account`, after counting the try.
NOBODY = "-"

# Rules that mean "this username cannot receive this delegation": in an invitation they answer as one.
CANNOT_ACCEPT = frozenset({errors.UnknownAccount.rule, errors.DelegateKindNotAllowed.rule,
                           errors.AccountInactive.rule})

NO_SUCH_INVITEE = ("We could not send this invitation. Check the username with the person: they need their own "
                   "Mandat account as a citizen, and it must be open.")
NO_SUCH_ASSISTANT = ("We could not give access to this person. Check the username with them: they need their own "
                     "Mandat account, not a health professional's, and it must be open.")
ACTING_FOR = ("You are acting for {name} right now, and nobody can give or change access while acting for someone "
              "else. Choose “Back to myself” at the top of the page, then try again.")
UNKNOWN_RULE = "This change is not allowed (rule: {rule}). Contact the help desk if you need help."

# Each rule of errors.py as a sentence saying what happened and what to do next, and the form field it concerns.
RULE_TEXTS: dict[str, tuple[str, str | None]] = {
    "self_delegation": ("You cannot choose yourself. Type the username of the person who will act for you.",
                        "username"),
    "unknown_account": (NO_SUCH_INVITEE, "username"),
    "account_inactive": ("One of the accounts of this delegation is locked or closed. Contact the help desk if "
                         "this is unexpected.", None),
    "unknown_kind": ("This kind of delegation does not exist. Go back to your delegations and start again.", None),
    "not_a_professional": ("Only a health professional listed in the directory can give an assistant access. If "
                           "you are one, contact the help desk to check your listing.", None),
    "structure_not_theirs": ("Choose one of your own places of practice in the list.", "structure"),
    "context_required": ("Choose the place of practice this access is for.", "structure"),
    "delegate_kind_not_allowed": ("This person cannot receive this kind of access. Check the username with them.",
                                  "username"),
    "principal_not_citizen": ("Only a citizen can authorise someone to act for them. A health professional gives "
                              "access to an assistant instead.", None),
    "guardian_needs_registry_link": ("Parents and legal guardians come from your health insurer's records: they "
                                     "cannot be added here.", None),
    "not_the_principal": ("Only the person concerned can do this. Check that you are signed in with your own "
                          "account.", None),
    "not_the_delegate": ("This was not given to you, so you cannot answer it or give it up. Check that you are "
                         "signed in with your own account.", None),
    "redelegation_forbidden": ("You cannot pass on access you hold for someone else: only that person can give or "
                               "change it.", None),
    "act_chain_too_deep": ("Too many people are acting for one another here. Go back to your own account and try "
                           "again.", None),
    "scope_not_delegable": ("One of the things you ticked cannot be given to someone else. Untick it and try "
                            "again.", "scopes"),
    "scope_reserved_to_professionals": ("One of the things you ticked is reserved to health professionals. Untick "
                                        "it and try again.", "scopes"),
    "scope_missing": ("Tick at least one thing this person may do.", "scopes"),
    "no_scope_granted": ("This access does not allow what was asked. Tick what the person needs and try again.",
                         "scopes"),
    "duration_too_long": ("This end date is too far away. Choose {last_day} or an earlier date.", "until"),
    "invalid_period": ("This end date has passed. Choose today or a later date.", "until"),
    "guardian_age_limit": ("The child has reached the age at which a parent's access ends, so this can no longer "
                           "be changed.", None),
    "teen_consent_required": ("This parent's access now needs the teenager's agreement.", None),
    "teen_consent_withdrawn": ("The teenager has withdrawn their agreement to this access.", None),
    "consent_not_applicable": ("Only a teenager aged {age_limit} to {last_age} can agree to a parent's access or "
                               "stop it, on their own page.", None),
    "delegation_not_found": ("This delegation does not exist, or no longer does. Your delegations below show where "
                             "things stand.", None),
    "delegation_pending": ("This invitation has not been accepted yet.", None),
    "delegation_revoked": ("This delegation has already ended. There is nothing more to do.", None),
    "delegation_declined": ("This invitation was declined. There is nothing more to do.", None),
    "delegation_expired": ("This delegation has already ended. There is nothing more to do.", None),
    "delegation_not_yet_valid": ("This delegation has not started yet.", None),
    "delegation_not_active": ("This has already been answered or has ended, so it cannot be changed any more. Your "
                              "delegations below show where things stand.", None),
    "rate_limited": ("You have sent too many invitations today. Please try again tomorrow.", None),
}

# Malformed fields, refused before the policy is asked.
FORM_TEXTS = {
    "username_missing": "Type the username of the person.",
    "username_too_long": "This username is too long. Check it with the person and type it again.",
    "until_malformed": "Type the end date as day, month and year, for example 31/12/2026.",
}

# What each right lets a delegate do, in plain words. A scope the operator adds without a label shows its name.
SCOPE_LABELS = {
    "openid": "Sign in to health services for you",
    "profile": "See your name, birth date and contact details",
    "mssante.read": "Read your secure health messages",
    "mssante.send": "Send secure health messages for you",
    "appointments.manage": "Book, move and cancel your appointments",
    "dmp.read": "Read your shared medical record (DMP)",
}

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DMY = re.compile(r"^(\d{1,2})\s*[/.\- ]\s*(\d{1,2})\s*[/.\- ]\s*(\d{4})$")


@dataclass(frozen=True, slots=True)
class Problem:
    """A refusal as a page shows it: the rule (or form check) that refused, the English message id and its
    values, the field it concerns and the HTTP status."""

    rule: str
    message: str
    field: str | None
    status: int
    values: Mapping[str, Any] = dataclass_field(default_factory=dict)


class FormProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.rule)
        self.problem = problem


def _form_problem(name: str, where: str) -> FormProblem:
    return FormProblem(Problem(name, FORM_TEXTS[name], where, 400))


@dataclass(frozen=True, slots=True)
class Grant:
    """A proxy invitation or an assistant grant, as typed."""

    username: str
    scopes: tuple[str, ...]  # what was ticked (deduplicated), plus `openid` when anything was
    until: date | None  # the last day of access; None: the longest allowed
    until_text: str  # as typed, to show the form again
    context: str | None = None  # assistant: the structure id


def choosable_scopes(settings: DelegationSettings) -> list[str]:
    """The boxes a form offers: the catalogue a non-professional delegate may hold, `openid` aside."""
    return [scope for scope in settings.delegable_scopes
            if scope != "openid" and policy.role_allows("citizen", scope, settings)]


def _day(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    iso, dmy = _ISO.match(text), _DMY.match(text)
    try:
        if iso:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        if dmy:
            return date(int(dmy.group(3)), int(dmy.group(2)), int(dmy.group(1)))
    except ValueError:
        pass
    raise _form_problem("until_malformed", "until")


def read_grant(form: Mapping[str, Any], settings: DelegationSettings, *, assistant: bool = False) -> Grant:
    """Read a grant form; raises `FormProblem` for a malformed field (the first one, in the page's order)."""
    getlist = getattr(form, "getlist", None)
    ticked = [str(value) for value in (getlist("scope") if getlist else [])]
    context = (str(form.get("structure") or "").strip()[:300] or None) if assistant else None
    username = str(form.get("username") or "").strip()
    until_text = str(form.get("until") or "").strip()[:40]
    if not username:
        raise _form_problem("username_missing", "username")
    if len(username) > USERNAME_MAX:
        raise _form_problem("username_too_long", "username")
    until = _day(until_text)
    chosen = list(dict.fromkeys(scope.strip()[:100] for scope in ticked if scope.strip()))
    chosen = chosen[:max(len(settings.delegable_scopes), 1) + 1]  # enough to name a bad one, no more
    if chosen and "openid" in settings.delegable_scopes and "openid" not in chosen:
        chosen.insert(0, "openid")
    return Grant(username=username, scopes=tuple(chosen), until=until, until_text=until_text, context=context)


def end_of_day(day: date, settings: DelegationSettings) -> datetime:
    """The instant access ends when `day` is its last day: the local midnight that closes it."""
    return policy.start_of(day + timedelta(days=1), settings.zone())


def last_day(kind: str, now: datetime, settings: DelegationSettings) -> date | None:
    """The last end day a form offers for `kind` (None: no maximum)."""
    days = settings.max_days(kind)
    if days is None:
        return None
    return policy.local_date(now + timedelta(days=days), settings.zone()) - timedelta(days=1)
