from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.enrollment.errors import CodeError
from idp.enrollment.security_code import check_symbol, format_code, generate_code, hash_code, parse_code

KEY = b"s" * 32


def test_generated_code_shape() -> None:
    code = generate_code()
    groups = code.split("-")
    assert [len(g) for g in groups] == [4, 4, 4, 1]
    assert parse_code(code) == code


def test_crockford_check_symbol_values() -> None:
    # Crockford: values 32..36 use * ~ $ = U.
    assert [check_symbol(v) for v in (0, 10, 31, 32, 33, 34, 35, 36, 37)] == list("0AZ*~$=U0")


@given(st.integers(0, 2**60 - 1))
def test_parsing_tolerates_case_spaces_hyphens_and_lookalikes(value: int) -> None:
    code = format_code(value)
    assert parse_code(code.lower().replace("-", " ")) == code
    assert parse_code(code.replace("-", "").replace("1", "l").replace("0", "O")) == code


@given(st.integers(0, 2**60 - 1), st.integers(0, 11), st.integers(1, 31))
def test_a_single_mistyped_symbol_is_caught_by_the_check(value: int, pos: int, delta: int) -> None:
    code = format_code(value).replace("-", "")
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    wrong = alphabet[(alphabet.index(code[pos]) + delta) % 32]
    with pytest.raises(CodeError) as caught:
        parse_code(code[:pos] + wrong + code[pos + 1 :])
    assert caught.value.code == "code_invalid"


@pytest.mark.parametrize("typed", ["", "ABCD-EFGH-JKMN", "ABCD-EFGH-JKMN-PQ", "ABCD-EFGH-JKMU-0"])
def test_malformed_codes_are_invalid(typed: str) -> None:
    with pytest.raises(CodeError) as caught:
        parse_code(typed)
    assert caught.value.code == "code_invalid"


def test_hash_is_keyed_and_bound_to_number_and_purpose() -> None:
    code = generate_code()
    base = hash_code(KEY, number="LEFE90551712", purpose="enrol", code=code)
    assert base == hash_code(KEY, number="LEFE90551712", purpose="enrol", code=code.lower())
    assert base != hash_code(b"t" * 32, number="LEFE90551712", purpose="enrol", code=code)
    assert base != hash_code(KEY, number="LEFE90551713", purpose="enrol", code=code)
    assert base != hash_code(KEY, number="LEFE90551712", purpose="recover", code=code)
    assert code.replace("-", "") not in base


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        hash_code(b"short", number="X", purpose="enrol", code=generate_code())
