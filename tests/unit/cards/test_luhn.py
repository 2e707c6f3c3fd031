from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.cards.luhn import (
    is_valid_national_id,
    is_valid_rpps,
    luhn_check_digit,
    luhn_valid,
    national_id_from_rpps,
    rpps_with_check_digit,
)

payloads = st.text(alphabet="0123456789", min_size=10, max_size=10)


@pytest.mark.parametrize("rpps", ["10001045367", "99700218896", "99700366240"])
def test_published_rpps_numbers_are_valid(rpps: str) -> None:
    assert is_valid_rpps(rpps)
    assert is_valid_national_id("8" + rpps)


@pytest.mark.parametrize("value", ["10001045368", "1000104536", "100010453670", "1000104536a", "", "٠٠٠٠٠٠٠٠٠٠٠"])
def test_invalid_rpps_numbers_are_refused(value: str) -> None:
    assert not is_valid_rpps(value)


def test_national_id_needs_the_rpps_type_prefix() -> None:
    assert not is_valid_national_id("010001045367")
    assert not is_valid_national_id("10001045367")
    assert national_id_from_rpps("10001045367") == "810001045367"
    with pytest.raises(ValueError):
        national_id_from_rpps("10001045368")


@given(payloads)
def test_completed_numbers_always_pass(payload: str) -> None:
    assert is_valid_rpps(rpps_with_check_digit(payload))


@given(payloads, st.integers(min_value=0, max_value=10), st.integers(min_value=1, max_value=9))
def test_any_single_digit_error_is_detected(payload: str, position: int, delta: int) -> None:
    number = rpps_with_check_digit(payload)
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1:]
    assert not luhn_valid(changed)


@given(payloads, st.integers(min_value=0, max_value=9))
def test_adjacent_transpositions_are_detected_except_09(payload: str, position: int) -> None:
    number = rpps_with_check_digit(payload)
    a, b = number[position], number[position + 1]
    swapped = number[:position] + b + a + number[position + 2:]
    if a == b or {a, b} == {"0", "9"}:
        return  # the one transposition Luhn cannot see, and a no-op swap
    assert not luhn_valid(swapped)


def test_check_digit_refuses_non_digits() -> None:
    with pytest.raises(ValueError):
        luhn_check_digit("12a")
