from __future__ import annotations

import pytest

from idp.enrollment.errors import PasswordRejected
from idp.enrollment.passwords import check_password, strength_hint


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short pass", "too_short"),
        ("x" * 129 + "yz", "too_long"),
        ("baseball1234", "common"),  # in the shipped list as is
        ("Password2024!", "common"),  # a listed word decorated with digits and symbols
        ("1234qwertyuiop", "common"),
        ("abcabcabcabc", "common"),  # one short pattern repeated
    ],
)
def test_rejected_with_typed_reason(password: str, reason: str) -> None:
    with pytest.raises(PasswordRejected) as caught:
        check_password(password)
    assert caught.value.code == f"password_{reason}"


def test_length_counts_characters_after_normalisation() -> None:
    decomposed = "e\u0301" * 11 + "!"  # 12 characters once composed, 23 code points before
    with pytest.raises(PasswordRejected) as caught:
        check_password(decomposed[:-2])
    assert caught.value.reason == "too_short"
    check_password("é" * 5 + "tolérance!")


@pytest.mark.parametrize("password", ["correct horse battery staple", "Le chat dort sur le radiateur", "x" * 64 + "Q7"])
def test_long_uncommon_passwords_pass(password: str) -> None:
    check_password(password)


def test_strength_hint_orders_passwords() -> None:
    assert strength_hint("password1234").level == "weak"
    assert strength_hint("password1234").bits == 0
    assert strength_hint("qwertzuiopasdf").level == "fair"
    assert strength_hint("Le chat dort sur le radiateur 42!").level == "strong"
