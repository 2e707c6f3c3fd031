"""Luhn check digits for RPPS numbers and the national professional id (`8` + RPPS).

The RPPS number has 11 digits; its last digit is a Luhn (mod 10) check digit over the first ten. The national
id used in CPS certificates and PSC claims is the RPPS prefixed with the identifier type `8`; the prefix is
not part of the Luhn computation.
"""

from __future__ import annotations

__all__ = [
    "RPPS_ID_TYPE",
    "is_valid_national_id",
    "is_valid_rpps",
    "luhn_check_digit",
    "luhn_valid",
    "national_id_from_rpps",
    "rpps_with_check_digit",
]

RPPS_ID_TYPE = "8"


def _luhn_sum(digits: str, *, double_first: bool) -> int:
    total = 0
    double = double_first
    for char in reversed(digits):
        value = ord(char) - 48
        if double:
            value *= 2
            if value > 9:
                value -= 9
        total += value
        double = not double
    return total


def _all_ascii_digits(value: str) -> bool:
    # str.isdigit() accepts superscripts and other scripts' digits; an identifier must be ASCII 0-9.
    return bool(value) and all("0" <= c <= "9" for c in value)


def luhn_check_digit(payload: str) -> str:
    """The digit that makes `payload + digit` pass the Luhn test."""
    if not _all_ascii_digits(payload):
        raise ValueError("Luhn payload must be ASCII digits")
    return str((10 - _luhn_sum(payload, double_first=True) % 10) % 10)


def luhn_valid(number: str) -> bool:
    """True when `number` (ASCII digits, check digit last) passes the Luhn test."""
    return len(number) >= 2 and _all_ascii_digits(number) and _luhn_sum(number, double_first=False) % 10 == 0


def is_valid_rpps(rpps: str) -> bool:
    return len(rpps) == 11 and luhn_valid(rpps)


def rpps_with_check_digit(first_ten: str) -> str:
    """Complete a 10-digit RPPS payload with its check digit (test data generation)."""
    if len(first_ten) != 10:
        raise ValueError("an RPPS payload has 10 digits")
    return first_ten + luhn_check_digit(first_ten)


def national_id_from_rpps(rpps: str) -> str:
    if not is_valid_rpps(rpps):
        raise ValueError(f"invalid RPPS number {rpps!r}")
    return RPPS_ID_TYPE + rpps


def is_valid_national_id(national_id: str) -> bool:
    return len(national_id) == 12 and national_id.startswith(RPPS_ID_TYPE) and is_valid_rpps(national_id[1:])
