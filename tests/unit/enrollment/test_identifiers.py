"""NAM and NIR validation: syntax, check key, and consistency with the other fields."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.enrollment.errors import FieldError
from idp.enrollment.identifiers import (
    Nam,
    Nir,
    check_nam_against,
    check_nir_against,
    nam_letters,
    nir_key,
    parse_nam,
    parse_nir,
    parse_number,
)


def test_nir_key_examples() -> None:
    assert nir_key("2951099126111") == 93
    assert nir_key("253072B073004") == 70  # 2B is read as 18


def test_parse_nir_accepts_spaces_and_corsica() -> None:
    nir = parse_nir("2 53 07 2B 073 004 70")
    assert nir.value == "253072B07300470"
    assert nir.birthplace == "2B073"
    assert nir.female is True


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("29510991261119", "length"),
        ("295109912611194", "key"),
        ("395109912611193", "sex"),
        ("2951X99126111X3", "digits"),
        ("295139912611110", "month"),
        ("295100012611193", "place"),
    ],
)
def test_parse_nir_rejects_with_reason_naming_number(raw: str, reason: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_nir(raw)
    assert (caught.value.field, caught.value.reason) == ("number", reason)


def test_nir_checked_against_birth_date_and_sex() -> None:
    nir = parse_nir("295109912611193")
    check_nir_against(nir, birth_date=date(1995, 10, 3), sex="F")
    with pytest.raises(FieldError) as caught:
        check_nir_against(nir, birth_date=date(1995, 11, 3), sex="F")
    assert caught.value.field == "birth_date"
    with pytest.raises(FieldError) as caught:
        check_nir_against(nir, birth_date=date(1995, 10, 3), sex="M")
    assert caught.value.field == "sex"


def test_nam_letters_ignore_accents_hyphens_apostrophes() -> None:
    assert nam_letters("Lefèbvre-D'Amour", "Émilie") == "LEFE"
    assert nam_letters("D'Amour", "jean") == "DAMJ"
    assert nam_letters("Côté", "Zoé") == "COTZ"


def test_nam_short_family_name_is_padded_with_x() -> None:
    assert nam_letters("Ng", "Anne") == "NGXA"
    assert nam_letters("Lê", "Hugo") == "LEXH"


def test_parse_nam_women_have_month_plus_50() -> None:
    nam = parse_nam("lefe 9055 1712")
    assert (nam.value, nam.yy, nam.month, nam.day, nam.female) == ("LEFE90551712", 90, 5, 17, True)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("LEFE9055171", "length"), ("LEF19055171X", "letters"), ("LEFE9055171X", "digits"),
     ("LEFE90133212", "date"), ("LEFE90023012", "date")],
)
def test_parse_nam_rejects(raw: str, reason: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_nam(raw)
    assert (caught.value.field, caught.value.reason) == ("number", reason)


@pytest.mark.parametrize(
    ("family", "given", "born", "sex", "field"),
    [
        ("Martin", "Émilie", date(1990, 5, 17), "F", "family_name"),
        ("Lefebvre", "Claire", date(1990, 5, 17), "F", "given_name"),
        ("Lefebvre", "Émilie", date(1990, 5, 18), "F", "birth_date"),
        ("Lefebvre", "Émilie", date(1990, 5, 17), "M", "sex"),
    ],
)
def test_nam_checked_against_each_field(family: str, given: str, born: date, sex: str, field: str) -> None:
    nam = parse_nam("LEFE90551712")
    with pytest.raises(FieldError) as caught:
        check_nam_against(nam, family_name=family, given_name=given, birth_date=born, sex=sex)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_parse_number_dispatches_and_names_empty_field() -> None:
    assert isinstance(parse_number("LEFE 9055 1712"), Nam)
    assert isinstance(parse_number("2 95 10 99 126 111 93"), Nir)
    with pytest.raises(FieldError) as caught:
        parse_number("  ")
    assert (caught.value.field, caught.value.reason) == ("number", "empty")


# --- properties --------------------------------------------------------------------------------------------

births = st.dates(min_value=date(1901, 1, 1), max_value=date(2025, 12, 31))
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèçàôÉ-' ", min_size=1, max_size=20).filter(
    lambda s: any(c.isalpha() for c in s)
)


@st.composite
def valid_nam(draw: st.DrawFn) -> tuple[str, str, str, date, str]:
    family, given, born = draw(names), draw(names), draw(births)
    sex = draw(st.sampled_from(["M", "F"]))
    month = born.month + (50 if sex == "F" else 0)
    admin = draw(st.integers(0, 99))
    number = f"{nam_letters(family, given)}{born.year % 100:02d}{month:02d}{born.day:02d}{admin:02d}"
    return number, family, given, born, sex


@given(valid_nam())
def test_generated_nam_validates(case: tuple[str, str, str, date, str]) -> None:
    number, family, given, born, sex = case
    check_nam_against(parse_nam(number), family_name=family, given_name=given, birth_date=born, sex=sex)  # type: ignore[arg-type]


@given(valid_nam(), st.integers(4, 9), st.integers(1, 9))
def test_nam_with_one_date_digit_changed_fails(case: tuple[str, str, str, date, str], pos: int, delta: int) -> None:
    number, family, given, born, sex = case
    mutated = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    with pytest.raises(FieldError):
        check_nam_against(parse_nam(mutated), family_name=family, given_name=given, birth_date=born, sex=sex)  # type: ignore[arg-type]


@st.composite
def valid_nir(draw: st.DrawFn) -> tuple[str, date, str]:
    born = draw(births)
    sex = draw(st.sampled_from(["1", "2"]))
    dept = draw(st.sampled_from([f"{d:02d}" for d in range(1, 96) if d != 20] + ["2A", "2B", "99"]))
    commune, order = draw(st.integers(1, 999)), draw(st.integers(1, 999))
    first13 = f"{sex}{born.year % 100:02d}{born.month:02d}{dept}{commune:03d}{order:03d}"
    return f"{first13}{nir_key(first13):02d}", born, "M" if sex == "1" else "F"


@given(valid_nir())
def test_generated_nir_validates(case: tuple[str, date, str]) -> None:
    number, born, sex = case
    check_nir_against(parse_nir(number), birth_date=born, sex=sex)  # type: ignore[arg-type]


@given(valid_nir(), st.integers(0, 14), st.integers(1, 9))
def test_nir_with_one_digit_changed_fails(case: tuple[str, date, str], pos: int, delta: int) -> None:
    number = case[0]
    if not number[pos].isdigit():
        pos = 0  # the A/B of Corsica is not a digit: change the sex digit instead
    mutated = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    with pytest.raises(FieldError):
        parse_nir(mutated)
