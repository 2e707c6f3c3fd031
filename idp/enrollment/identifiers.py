"""Health insurance numbers: Québec NAM and French NIR. Pure functions, no I/O.

**NAM** (numéro d'assurance maladie, RAMQ), 12 characters, printed ``LLLL YYMM DDAA``:

- letters 1–3: the first three letters of the family name; letter 4: the first letter of the first given name.
  Accents, spaces, hyphens and apostrophes are ignored ("D'Amour" gives ``DAM``). RAMQ pads a family name of
  fewer than three letters with ``X`` ("Ng" gives ``NGX``); we apply the same rule.
- ``YY`` year of birth, ``MM`` month of birth, plus 50 for women, ``DD`` day of birth;
- ``AA`` two administrative digits (they tell apart people sharing the rest). There is no check digit.

**NIR** (numéro d'inscription au répertoire, INSEE), 15 characters: sex (1 man, 2 woman; 7 and 8 for a
temporary NIA), ``YY``, ``MM`` (01–12; 20 and 30–42 and 50–99 are used when the month is unknown), department
(2 characters: digits, or ``2A``/``2B`` for Corsica), commune (3 digits; for a birth abroad, department 99 and
the INSEE country code), order number (3 digits, not 000), then the 2-digit key = 97 − (first 13 digits mod 97),
where Corsica's ``2A`` counts as 19 and ``2B`` as 18.

`parse_*` checks the syntax and the check key; `check_*_against` checks the number against the other fields of the
same person. Both raise `FieldError` naming the field ("number", "family_name", "birth_date", ...).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Literal

from idp.enrollment.errors import FieldError
from idp.enrollment.matching import letters_only

__all__ = [
    "InsuranceNumber",
    "Nam",
    "Nir",
    "Sex",
    "check_nam_against",
    "check_nir_against",
    "check_number_against",
    "nam_letters",
    "nir_key",
    "normalise_number",
    "parse_nam",
    "parse_nir",
    "parse_number",
]

Sex = Literal["M", "F", "X"]


@dataclass(frozen=True, slots=True)
class Nam:
    value: str  # normalised: 12 upper-case characters, no spaces
    letters: str
    yy: int
    month: int
    day: int
    female: bool

    kind: Literal["NAM"] = "NAM"


@dataclass(frozen=True, slots=True)
class Nir:
    value: str  # normalised: 15 characters, no spaces
    sex_digit: str
    yy: int
    month: int  # as written; only 1–12 is a real month
    department: str
    commune: str

    kind: Literal["NIR"] = "NIR"

    @property
    def birthplace(self) -> str:
        """The INSEE code of the place of birth (department + commune), as FranceConnect's `birthplace`."""
        return self.department + self.commune

    @property
    def female(self) -> bool | None:
        return {"1": False, "7": False, "2": True, "8": True}.get(self.sex_digit)


InsuranceNumber = Nam | Nir


_SEPARATORS = str.maketrans("", "", " \t-.")


def normalise_number(raw: str) -> str:
    """Upper-case, spaces, dots and hyphens removed: how cards print it is not how people type it."""
    return raw.upper().translate(_SEPARATORS)


def _invalid(reason: str, description: str, field: str = "number") -> FieldError:
    return FieldError(field, reason, description)


def _valid_day(yy: int, month: int, day: int) -> bool:
    # The century is not in the number: accept a day that exists in either 19YY or 20YY (29 February).
    if not 1 <= month <= 12:
        return False
    return any(1 <= day <= calendar.monthrange(century + yy, month)[1] for century in (1900, 2000))


# --- NAM ---------------------------------------------------------------------------------------------------


def nam_letters(family_name: str, given_name: str) -> str:
    """The four letters a NAM must start with for this person (RAMQ rule; short family names padded with X)."""
    family = letters_only(family_name)
    given = letters_only(given_name)
    if not family:
        raise _invalid("empty", "The family name must contain at least one letter.", "family_name")
    if not given:
        raise _invalid("empty", "The given name must contain at least one letter.", "given_name")
    return (family[:3]).ljust(3, "X") + given[0]


def parse_nam(raw: str) -> Nam:
    value = normalise_number(raw)
    if len(value) != 12:
        raise _invalid("length", "A health insurance number (NAM) has 4 letters and 8 digits.")
    letters, digits = value[:4], value[4:]
    if not (letters.isascii() and letters.isalpha()):
        raise _invalid("letters", "A health insurance number (NAM) starts with 4 letters.")
    if not (digits.isascii() and digits.isdigit()):
        raise _invalid("digits", "A health insurance number (NAM) ends with 8 digits.")
    yy, month, day = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    female = month > 50
    real_month = month - 50 if female else month
    if not _valid_day(yy, real_month, day):
        raise _invalid("date", "The birth date inside the health insurance number (NAM) is not a valid date.")
    return Nam(value=value, letters=letters, yy=yy, month=real_month, day=day, female=female)


def check_nam_against(nam: Nam, *, family_name: str, given_name: str, birth_date: date, sex: Sex | None) -> None:
    expected = nam_letters(family_name, given_name)
    if nam.letters[:3] != expected[:3]:
        raise _invalid("mismatch", "The family name does not match the health insurance number.", "family_name")
    if nam.letters[3] != expected[3]:
        raise _invalid("mismatch", "The given name does not match the health insurance number.", "given_name")
    if (nam.yy, nam.month, nam.day) != (birth_date.year % 100, birth_date.month, birth_date.day):
        raise _invalid("mismatch", "The birth date does not match the health insurance number.", "birth_date")
    # The +50 marks women; a record with sex X or unknown accepts either form.
    if sex in ("M", "F") and nam.female != (sex == "F"):
        raise _invalid("mismatch", "The sex does not match the health insurance number.", "sex")


# --- NIR ---------------------------------------------------------------------------------------------------


def nir_key(first13: str) -> int:
    """97 − (the 13 first characters mod 97), reading Corsica's 2A as 19 and 2B as 18."""
    digits = first13.upper()
    if digits[5:7] == "2A":
        digits = digits[:5] + "19" + digits[7:]
    elif digits[5:7] == "2B":
        digits = digits[:5] + "18" + digits[7:]
    if len(digits) != 13 or not (digits.isascii() and digits.isdigit()):
        raise _invalid("digits", "A social security number (NIR) has 13 digits before its key.")
    return 97 - int(digits) % 97


def _nir_month_ok(month: int) -> bool:
    return 1 <= month <= 12 or month == 20 or 30 <= month <= 42 or 50 <= month <= 99


def parse_nir(raw: str) -> Nir:
    value = normalise_number(raw)
    if len(value) != 15:
        raise _invalid("length", "A social security number (NIR) has 15 characters: 13 plus a 2-digit key.")
    sex, yy, mm, dept, commune, order, key = (
        value[0], value[1:3], value[3:5], value[5:7], value[7:10], value[10:13], value[13:15],
    )
    if sex not in "1278":
        raise _invalid("sex", "A social security number (NIR) starts with 1 or 2.")
    if not (yy + mm + commune + order + key).isdigit() or not (dept.isdigit() or dept in ("2A", "2B")):
        raise _invalid("digits", "A social security number (NIR) has only digits, except 2A or 2B for Corsica.")
    if not _nir_month_ok(int(mm)):
        raise _invalid("month", "The month inside the social security number (NIR) is not valid.")
    if dept == "00" or order == "000":
        raise _invalid("place", "The place of birth inside the social security number (NIR) is not valid.")
    if int(key) != nir_key(value[:13]):
        raise _invalid("key", "The key of the social security number (NIR) is wrong: please check every digit.")
    return Nir(value=value, sex_digit=sex, yy=int(yy), month=int(mm), department=dept, commune=commune)


def check_nir_against(nir: Nir, *, birth_date: date, sex: Sex | None) -> None:
    if nir.yy != birth_date.year % 100 or (1 <= nir.month <= 12 and nir.month != birth_date.month):
        raise _invalid("mismatch", "The birth date does not match the social security number.", "birth_date")
    if sex in ("M", "F") and nir.female is not None and nir.female != (sex == "F"):
        raise _invalid("mismatch", "The sex does not match the social security number.", "sex")


# --- either ------------------------------------------------------------------------------------------------


def parse_number(raw: str) -> InsuranceNumber:
    """A NAM (starts with letters) or a NIR (starts with a digit); the error names the field `number`."""
    value = normalise_number(raw)
    if not value:
        raise _invalid("empty", "Please enter your health insurance number.")
    return parse_nam(value) if value[0].isalpha() else parse_nir(value)


def check_number_against(
    number: InsuranceNumber, *, family_name: str, given_name: str, birth_date: date, sex: Sex | None
) -> None:
    if isinstance(number, Nam):
        check_nam_against(number, family_name=family_name, given_name=given_name, birth_date=birth_date, sex=sex)
    else:
        check_nir_against(number, birth_date=birth_date, sex=sex)
