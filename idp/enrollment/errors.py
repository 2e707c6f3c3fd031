"""Typed enrollment errors. Each carries a stable `code` (for pages and tests), a public description that is
safe to show, and a private `detail` meant for the log only."""

from __future__ import annotations

from typing import Literal

from idp.errors import MandatError

__all__ = [
    "CodeError",
    "CodeErrorCode",
    "EnrollmentError",
    "FieldError",
    "PasswordRejected",
    "RateLimited",
    "RegistryFormatError",
    "UnderAge",
]

CodeErrorCode = Literal["code_expired", "code_invalid", "code_locked", "code_used", "code_superseded"]


class EnrollmentError(MandatError):
    """An enrollment refusal; its public text depends on the case, so it is given to each instance."""

    code = "enrollment_error"

    def __init__(self, description: str, *, detail: str = "") -> None:
        super().__init__(detail, public=description)
        self.args = (description,)


class FieldError(EnrollmentError):
    """A form or registry field is malformed or inconsistent; `field` names it, `reason` says why."""

    code = "invalid_field"

    def __init__(self, field: str, reason: str, description: str, *, detail: str = "") -> None:
        super().__init__(description, detail=detail)
        self.field = field
        self.reason = reason


class CodeError(EnrollmentError):
    """The mailed security code cannot be used. The codes are distinct so the page can say what to do next."""

    def __init__(self, code: CodeErrorCode, description: str, *, detail: str = "") -> None:
        super().__init__(description, detail=detail)
        self.code = code


class PasswordRejected(EnrollmentError):
    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.code = f"password_{reason}"
        self.reason = reason


class RateLimited(EnrollmentError):
    code = "rate_limited"

    def __init__(self, retry_after: float, *, detail: str = "") -> None:
        super().__init__("Too many attempts. Please try again later.", detail=detail)
        self.retry_after = retry_after


class UnderAge(EnrollmentError):
    code = "under_age"

    def __init__(self, minimum_age: int) -> None:
        super().__init__(
            f"You must be at least {minimum_age} years old to create an account yourself. "
            "A parent or guardian can act for you."
        )
        self.minimum_age = minimum_age


class RegistryFormatError(EnrollmentError):
    """The import file cannot be read any further (not a CSV with the right header, not a FHIR Bundle)."""

    code = "registry_format"

    def __init__(self, description: str, *, line: int | None = None) -> None:
        super().__init__(description if line is None else f"line {line}: {description}")
        self.line = line
