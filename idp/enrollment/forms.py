"""The enrollment forms as pages see them: reading the typed values, and turning typed errors into messages.

Message ids are English (French in locales/fr); each message says what to do next. A field error points at the
input to fix (`anchor`), which the error summary links to and the input names in `aria-describedby`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.enrollment.errors import CodeError, EnrollmentError, FieldError, PasswordRejected
from idp.enrollment.interfaces import CodeRequest

__all__ = ["ActivationForm", "PageError", "code_request", "error_for", "request_values"]

# Where the cursor goes for a field of the service: the date fields are split into day/month/year inputs.
ANCHORS = {"birth_date": "birth_day", "card_expiry": "expiry_month"}

# (field, reason) → the page's message; anything else shows the service's own description.
_FIELD_MESSAGES: dict[tuple[str, str], str] = {
    ("number", "empty"): "Enter your health insurance number, as printed on your card.",
    ("family_name", "missing"): "Enter your family name, as printed on your card.",
    ("family_name", "empty"): "Enter your family name, as printed on your card.",
    ("given_name", "missing"): "Enter your first given name, as printed on your card.",
    ("given_name", "empty"): "Enter your first given name, as printed on your card.",
    ("birth_date", "missing"): "Enter your birth date: day, month and year, for example 17 05 1990.",
    ("birth_date", "format"): "Enter your birth date: day, month and year, for example 17 05 1990.",
    ("card_sequence", "missing"): "Enter the sequence number printed on your card.",
    ("card_expiry", "missing"): "Enter the month and year your card expires, for example 03 2028.",
    ("card_expiry", "format"): "Enter the month and year your card expires, for example 03 2028.",
}

# What to do after each code error (shown under the message, with a link to request a new code).
CODE_NEXT_STEPS = {
    "code_invalid": "Type the code exactly as printed in your letter. After several wrong codes, you will have to "
    "wait a few minutes between tries.",
    "code_expired": "Request a new code: a new letter will be mailed to you.",
    "code_locked": "Request a new code: a new letter will be mailed to you.",
    "code_used": "If you already activated your account, sign in. If you lost your password, request a new code.",
    "code_superseded": "Use the code from the most recent letter you received.",
}


@dataclass(frozen=True, slots=True)
class PageError:
    field: str  # the input's id, or "" for an error about the whole form
    message: str  # English message id
    values: dict[str, Any]
    next_step: str | None = None
    new_code_link: bool = False


def _date(year: str, month: str, day: str | None = None) -> str:
    parts = [year.strip(), month.strip()] + ([day.strip()] if day is not None else [])
    if not any(parts):
        return ""
    if all(p.isdigit() for p in parts) and len(parts[0]) == 4:
        return "-".join([parts[0], *(p.zfill(2) for p in parts[1:])])
    return "invalid"


def request_values(form: Any) -> dict[str, str]:
    """The typed values of the "request a code" form, to fill it again after an error."""
    names = ("number", "family_name", "given_name", "birth_day", "birth_month", "birth_year", "card_sequence",
             "expiry_month", "expiry_year")
    return {name: str(form.get(name) or "")[:200] for name in names}


def code_request(values: dict[str, str]) -> CodeRequest:
    return CodeRequest(
        number=values["number"], family_name=values["family_name"], given_name=values["given_name"],
        birth_date=_date(values["birth_year"], values["birth_month"], values["birth_day"]),
        card_sequence=values["card_sequence"],
        card_expiry=_date(values["expiry_year"], values["expiry_month"]),
    )


@dataclass(frozen=True, slots=True)
class ActivationForm:
    number: str
    code: str
    password: str

    @classmethod
    def read(cls, form: Any) -> ActivationForm:
        return cls(str(form.get("number") or "")[:100], str(form.get("code") or "")[:100],
                   str(form.get("password") or "")[:1024])

    def missing(self) -> list[PageError]:
        errors = []
        if not self.number.strip():
            errors.append(PageError("number", _FIELD_MESSAGES["number", "empty"], {}))
        if not self.code.strip():
            errors.append(PageError("code", "Enter the security code printed in your letter.", {}))
        if not self.password:
            errors.append(PageError("password", "Choose a password of at least {minimum} characters.",
                                    {"minimum": 12}))
        return errors


def error_for(error: EnrollmentError) -> PageError:
    if isinstance(error, FieldError):
        message = _FIELD_MESSAGES.get((error.field, error.reason), error.public)
        return PageError(ANCHORS.get(error.field, error.field), message, {})
    if isinstance(error, CodeError):
        return PageError("code", error.public, {}, next_step=CODE_NEXT_STEPS.get(error.code),
                         new_code_link=error.code in {"code_expired", "code_locked", "code_used"})
    if isinstance(error, PasswordRejected):
        return PageError("password", error.public, {})
    return PageError("", error.public, {}, next_step="Please try again later, or contact your insurer.")
