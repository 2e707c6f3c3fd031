"""One validated registry row, built from the flat fields that both the CSV and the FHIR readers produce.

Validation is the same whatever the file format: the number's syntax and key, and its consistency with the
names, birth date and sex on the same row (see identifiers.py). A bad row raises `FieldError`; the importer
reports it with its line number and goes on.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from idp.enrollment.errors import FieldError
from idp.enrollment.identifiers import Nir, Sex, check_number_against, parse_number

__all__ = ["ParentLink", "RegistryRow", "build_row", "parse_card_expiry", "parse_parent_numbers"]

_TRUE = {"1", "true", "yes", "oui", "y", "o"}
_FALSE = {"0", "false", "no", "non", "n", ""}
_BOOLEAN = _TRUE | _FALSE
_SEX = {"M": "M", "F": "F", "X": "X", "MALE": "M", "FEMALE": "F", "OTHER": "X", "UNKNOWN": "X", "H": "M"}


@dataclass(frozen=True, slots=True)
class RegistryRow:
    number: str
    kind: str
    card_sequence: str | None
    card_expiry: date | None
    family_name: str
    given_names: str
    birth_date: date
    sex: str
    address_line1: str
    address_line2: str | None
    postal_code: str
    city: str
    country: str
    birthplace: str | None
    birthcountry: str | None
    qualified: bool
    parents: tuple[str, ...]
    # SHA-256 of every field above: what a re-import compares to tell unchanged rows from changed ones.
    row_hash: str = field(init=False)

    def __post_init__(self) -> None:
        fields = (
            self.number, self.kind, self.card_sequence, self.card_expiry, self.family_name, self.given_names,
            self.birth_date, self.sex, self.address_line1, self.address_line2, self.postal_code, self.city,
            self.country, self.birthplace, self.birthcountry, self.qualified, self.parents,
        )
        object.__setattr__(self, "row_hash", hashlib.sha256(repr(fields).encode()).hexdigest())

    def values(self) -> dict[str, Any]:
        """Column values for registry_records (parents go to registry_links)."""
        return {
            "number": self.number, "kind": self.kind, "card_sequence": self.card_sequence,
            "card_expiry": self.card_expiry, "family_name": self.family_name, "given_names": self.given_names,
            "birth_date": self.birth_date, "sex": self.sex, "address_line1": self.address_line1,
            "address_line2": self.address_line2, "postal_code": self.postal_code, "city": self.city,
            "country": self.country, "birthplace": self.birthplace, "birthcountry": self.birthcountry,
            "qualified": self.qualified, "row_hash": self.row_hash,
        }


@dataclass(frozen=True, slots=True)
class ParentLink:
    """A parental link read on its own (a FHIR RelatedPerson), outside the child's row."""

    child_number: str
    parent_number: str


def _required(fields: Mapping[str, str | None], name: str, limit: int = 200) -> str:
    value = (fields.get(name) or "").strip()
    if not value:
        raise FieldError(name, "missing", f"{name} is required")
    if len(value) > limit:
        raise FieldError(name, "too_long", f"{name} is longer than {limit} characters")
    return value


def _optional(fields: Mapping[str, str | None], name: str, limit: int = 200) -> str | None:
    value = (fields.get(name) or "").strip()
    if len(value) > limit:
        raise FieldError(name, "too_long", f"{name} is longer than {limit} characters")
    return value or None


def _iso_date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FieldError(name, "format", f"{name} must be a date written YYYY-MM-DD, got {value!r}") from None


def parse_card_expiry(value: str) -> date:
    """YYYY-MM-DD, or YYYY-MM as Québec cards print it (read as the last day of that month)."""
    if len(value) == 7 and value[4] == "-":
        try:
            year, month = int(value[:4]), int(value[5:])
            return date(year, month, calendar.monthrange(year, month)[1])
        except ValueError:
            pass
        raise FieldError("card_expiry", "format", f"card_expiry must be YYYY-MM or YYYY-MM-DD, got {value!r}")
    return _iso_date("card_expiry", value)


def _insee_code(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    code = value.upper()
    if len(code) != 5 or not all(c.isdigit() or c in "AB" for c in code):
        raise FieldError(name, "format", f"{name} must be a 5-character INSEE code, got {value!r}")
    return code


def parse_parent_numbers(raw: str | None) -> tuple[str, ...]:
    parents = []
    for part in (raw or "").replace("|", ";").split(";"):
        if part.strip():
            try:
                parents.append(parse_number(part).value)
            except FieldError as exc:
                raise FieldError("parent_numbers", exc.reason, f"parent number {part.strip()!r}: {exc}") from None
    return tuple(dict.fromkeys(parents))


def build_row(fields: Mapping[str, str | None]) -> RegistryRow:
    number = parse_number(_required(fields, "number", 20))
    family_name = _required(fields, "family_name")
    given_names = _required(fields, "given_names")
    birth_date = _iso_date("birth_date", _required(fields, "birth_date", 10))
    sex_raw = _required(fields, "sex", 10).upper()
    if sex_raw not in _SEX:
        raise FieldError("sex", "format", f"sex must be M, F or X, got {sex_raw!r}")
    sex: Sex = _SEX[sex_raw]  # type: ignore[assignment]
    first_given = given_names.replace(",", " ").split()[0]
    check_number_against(number, family_name=family_name, given_name=first_given, birth_date=birth_date, sex=sex)
    expiry = _optional(fields, "card_expiry", 10)
    country = _required(fields, "country", 2).upper()
    if len(country) != 2 or not country.isalpha():
        raise FieldError("country", "format", f"country must be an ISO 3166 2-letter code, got {country!r}")
    birthplace = _insee_code("birthplace", _optional(fields, "birthplace"))
    birthcountry = _insee_code("birthcountry", _optional(fields, "birthcountry"))
    if isinstance(number, Nir) and number.department.isdigit() and int(number.department) == 99:
        # Born abroad: the NIR's "commune" is the INSEE country code.
        birthcountry = birthcountry or "99" + number.commune
    elif isinstance(number, Nir):
        birthplace = birthplace or number.birthplace
        birthcountry = birthcountry or "99100"
    qualified_raw = (fields.get("qualified") or "").strip().lower()
    if qualified_raw not in _BOOLEAN:
        raise FieldError("qualified", "format", f"qualified must be true or false, got {qualified_raw!r}")
    return RegistryRow(
        number=number.value,
        kind=number.kind,
        card_sequence=_optional(fields, "card_sequence", 20),
        card_expiry=parse_card_expiry(expiry) if expiry else None,
        family_name=family_name,
        given_names=given_names,
        birth_date=birth_date,
        sex=sex,
        address_line1=_required(fields, "address_line1"),
        address_line2=_optional(fields, "address_line2"),
        postal_code=_required(fields, "postal_code", 20),
        city=_required(fields, "city", 100),
        country=country,
        birthplace=birthplace,
        birthcountry=birthcountry,
        qualified=qualified_raw in _TRUE,
        parents=parse_parent_numbers(fields.get("parent_numbers")),
    )
