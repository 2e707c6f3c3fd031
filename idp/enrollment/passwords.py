"""Password policy for citizen accounts (NIST SP 800-63B style): length, not common, and a strength hint.

Rules: 12 to 128 characters (counted after NFKC normalisation, so a pasted composed or decomposed "é" counts
once); not in the shipped list of common and breached passwords, also after stripping leading and trailing digits
and symbols ("Motdepasse2024!" is "motdepasse" with decoration); not one short pattern repeated
("abcabcabcabc"). No composition rules: they push people to predictable "Password1!" shapes.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

from idp.enrollment.errors import PasswordRejected

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "PasswordReason", "StrengthHint", "check_password", "strength_hint"]

MIN_LENGTH = 12
MAX_LENGTH = 128
PasswordReason = Literal["too_short", "too_long", "common"]


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    text = resources.files("idp.enrollment").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line)


def _core(password: str) -> str:
    """The password without leading and trailing digits and symbols."""
    start, end = 0, len(password)
    while start < end and not password[start].isalpha():
        start += 1
    while end > start and not password[end - 1].isalpha():
        end -= 1
    return password[start:end]


def _is_repetition(password: str) -> bool:
    # "aaaaaaaaaaaa", "abcabcabcabc": a unit of at most 4 characters repeated.
    return any(
        len(password) % size == 0 and password == password[:size] * (len(password) // size)
        for size in range(1, 5)
    )


def check_password(password: str) -> None:
    """Raise `PasswordRejected` with reason too_short, too_long or common; return when acceptable."""
    normalised = unicodedata.normalize("NFKC", password)
    if len(normalised) < MIN_LENGTH:
        raise PasswordRejected("too_short", f"Your password must have at least {MIN_LENGTH} characters.")
    if len(normalised) > MAX_LENGTH:
        raise PasswordRejected("too_long", f"Your password must have at most {MAX_LENGTH} characters.")
    lowered = normalised.casefold()
    common = _common_passwords()
    if lowered in common or _core(lowered) in common or _is_repetition(lowered):
        raise PasswordRejected(
            "common", "This password is too common or has appeared in data breaches. Please choose another."
        )


@dataclass(frozen=True, slots=True)
class StrengthHint:
    bits: int
    level: Literal["weak", "fair", "strong"]


def strength_hint(password: str) -> StrengthHint:
    """A rough entropy estimate for the meter on the page: length × log2(alphabet of the classes used).

    It is an upper bound (it cannot see words), so common passwords are scored zero and the thresholds are
    deliberately high: under 50 bits weak, under 80 fair.
    """
    normalised = unicodedata.normalize("NFKC", password)
    lowered = normalised.casefold()
    if not normalised or lowered in _common_passwords() or _core(lowered) in _common_passwords():
        return StrengthHint(0, "weak")
    pool = 0
    pool += 26 if any(c.islower() for c in normalised) else 0
    pool += 26 if any(c.isupper() for c in normalised) else 0
    pool += 10 if any(c.isdigit() for c in normalised) else 0
    pool += 33 if any(c.isascii() and not c.isalnum() for c in normalised) else 0
    pool += 100 if any(not c.isascii() for c in normalised) else 0
    # A character repeated right after itself adds almost nothing: count runs, not characters.
    runs = sum(1 for i, c in enumerate(normalised) if i == 0 or c != normalised[i - 1])
    bits = int(runs * math.log2(max(pool, 2)))
    level: Literal["weak", "fair", "strong"] = "weak" if bits < 50 else "fair" if bits < 80 else "strong"
    return StrengthHint(bits, level)
