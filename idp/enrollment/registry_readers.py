"""Streaming readers for the insurer registry: CSV and FHIR R4 Bundles. Neither loads the file.

Each reader yields `(line, item)` where `item` is a `RegistryRow`, a `ParentLink` or the `FieldError` that made
the entry unusable; `line` is where the row or entry starts, so rejections can be reported precisely. A file that
cannot be read further (wrong header, broken JSON) raises `RegistryFormatError` with its line; the rows read
before it are kept.

**CSV** — UTF-8 (a BOM is tolerated), comma-separated, first line a header with these columns, in any order:

==================  ========  ===========================================================================
column              required  content
==================  ========  ===========================================================================
number              yes       NAM (``TREM 5651 2512``) or NIR with key (``2 95 10 99 126 111 93``)
card_sequence       no        card sequence number as printed on the card
card_expiry         no        ``YYYY-MM-DD`` or ``YYYY-MM`` (read as the month's last day)
family_name         yes       family name at birth (the one the NAM letters come from)
given_names         yes       all given names, space-separated; the first one is the NAM's 4th letter
birth_date          yes       ``YYYY-MM-DD``
sex                 yes       ``M``, ``F`` or ``X``
address_line1       yes       first postal address line
address_line2       no        second postal address line
postal_code         yes
city                yes
country             yes       ISO 3166-1 alpha-2 (``FR``, ``CA``)
birthplace          no        INSEE commune code (5); from a NIR it is derived when left empty
birthcountry        no        INSEE country code (5, ``99100`` France); derived from a NIR when empty
qualified           no        ``true``/``false``: identity checked against an official document (INS QUAL)
parent_numbers      no        numbers of the parents or guardians, separated by ``;``
==================  ========  ===========================================================================

**FHIR** — a JSON ``Bundle`` whose ``entry[].resource`` are:

- ``Patient``: ``identifier`` with a NAM or NIR system (see `NAM_SYSTEMS`, `NIR_SYSTEMS`; its ``period.end`` is
  the card expiry), an identifier with system `CARD_SEQUENCE_SYSTEM`, ``name`` (``use: official`` preferred),
  ``birthDate``, ``gender``, ``address`` (``use: home`` preferred; ``line``, ``postalCode``, ``city``,
  ``country`` as 2 letters), extensions `BIRTHPLACE_URL` / `BIRTHCOUNTRY_URL` (``valueCode``, INSEE) and
  `QUALIFIED_URL` (``valueBoolean``).
- ``RelatedPerson``: a parent. ``patient.identifier`` names the child by number (a logical reference, so the
  reader never has to remember earlier entries), ``identifier`` holds the parent's number, and ``relationship``
  must carry a v3 RoleCode in `PARENT_ROLES`. ``Patient.link`` is not used: in FHIR it links records of the *same*
  person, not a parent.

The Bundle is read one entry at a time with `json.JSONDecoder.raw_decode` over a sliding buffer.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from idp.enrollment.errors import FieldError, RegistryFormatError
from idp.enrollment.identifiers import parse_number
from idp.enrollment.registry_rows import ParentLink, RegistryRow, build_row

__all__ = [
    "BIRTHCOUNTRY_URL",
    "BIRTHPLACE_URL",
    "CARD_SEQUENCE_SYSTEM",
    "CSV_COLUMNS",
    "NAM_SYSTEMS",
    "NIR_SYSTEMS",
    "PARENT_ROLES",
    "QUALIFIED_URL",
    "RegistryItem",
    "open_registry",
    "read_csv",
    "read_fhir",
]

RegistryItem = RegistryRow | ParentLink | FieldError

CSV_COLUMNS = (
    "number", "card_sequence", "card_expiry", "family_name", "given_names", "birth_date", "sex",
    "address_line1", "address_line2", "postal_code", "city", "country", "birthplace", "birthcountry",
    "qualified", "parent_numbers",
)
_CSV_REQUIRED = {"number", "family_name", "given_names", "birth_date", "sex", "address_line1", "postal_code",
                 "city", "country"}

# INS-NIR and INS-NIA (ANS OIDs), and the NIR as plain identifier used by some French exports.
NIR_SYSTEMS = frozenset({"urn:oid:1.2.250.1.213.1.4.8", "urn:oid:1.2.250.1.213.1.4.9", "urn:oid:1.2.250.1.213.1.4.10"})
# RAMQ health insurance number as Canada Health Infoway names it, plus our own URN for exports without one.
NAM_SYSTEMS = frozenset({"https://fhir.infoway-inforoute.ca/NamingSystem/ca-qc-patient-healthcare-id",
                         "urn:mandat:fhir:nam"})
CARD_SEQUENCE_SYSTEM = "urn:mandat:fhir:card-sequence"
BIRTHPLACE_URL = "urn:mandat:fhir:birthplace-insee"
BIRTHCOUNTRY_URL = "urn:mandat:fhir:birthcountry-insee"
QUALIFIED_URL = "urn:mandat:fhir:ins-qualified"
# v3 RoleCode: parent, mother, father, natural and adoptive parents, guardian.
PARENT_ROLES = frozenset({"PRN", "MTH", "FTH", "NPRN", "NMTH", "NFTH", "ADOPTP", "ADOPTM", "ADOPTF", "GUARD"})

_MAX_ENTRY_CHARS = 1 << 20  # an entry is a few kB; past 1 MiB without closing it, the JSON is broken


# --- CSV ---------------------------------------------------------------------------------------------------


def read_csv(stream: TextIO) -> Iterator[tuple[int, RegistryItem]]:
    reader = csv.reader(stream)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise RegistryFormatError("the file is empty: expected a header line", line=1) from None
    unknown = [name for name in header if name not in CSV_COLUMNS]
    missing = sorted(_CSV_REQUIRED - set(header))
    if unknown or missing:
        raise RegistryFormatError(
            f"header: unknown columns {unknown}, missing columns {missing}; see the documented column list", line=1
        )
    next_line = reader.line_num + 1
    for cells in reader:
        line, next_line = next_line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield line, FieldError("row", "columns", f"expected {len(header)} columns, found {len(cells)}")
            continue
        try:
            yield line, build_row(dict(zip(header, cells, strict=True)))
        except FieldError as exc:
            yield line, exc


# --- FHIR --------------------------------------------------------------------------------------------------


class _JsonStream:
    """Reads one JSON value at a time from a text stream, keeping only the unread part in memory."""

    def __init__(self, stream: TextIO, chunk_chars: int = 1 << 16) -> None:
        self._stream = stream
        self._chunk = chunk_chars
        self._decoder = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._eof = False
        self.line = 1

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._stream.read(self._chunk)
        if not data:
            self._eof = True
            return False
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        return True

    def _advance(self, to: int) -> None:
        self.line += self._buf.count("\n", self._pos, to)
        self._pos = to

    def peek(self) -> str:
        """The next non-blank character, not consumed; "" at the end of the file."""
        while True:
            buf, pos = self._buf, self._pos
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            self._advance(pos)
            if pos < len(buf):
                return buf[pos]
            if not self._fill():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise RegistryFormatError(f"expected {char!r}, found {found or 'end of file'!r}", line=self.line)
        self._advance(self._pos + 1)

    def value(self) -> tuple[int, Any]:
        """The next JSON value and the line it starts on."""
        self.peek()
        start = self.line
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if len(self._buf) - self._pos < _MAX_ENTRY_CHARS and self._fill():
                    continue
                line = start + self._buf.count("\n", self._pos, exc.pos)
                raise RegistryFormatError(f"invalid JSON: {exc.msg}", line=line) from None
            # A number cut by the buffer's end decodes as a shorter number: read on before trusting it.
            if end == len(self._buf) and self._fill():
                continue
            self._advance(end)
            return start, value


def read_fhir(stream: TextIO) -> Iterator[tuple[int, RegistryItem]]:
    json_stream = _JsonStream(stream)
    json_stream.expect("{")
    resource_type = None
    while json_stream.peek() != "}":
        key_line, key = json_stream.value()
        if not isinstance(key, str):
            raise RegistryFormatError("expected a property name", line=key_line)
        json_stream.expect(":")
        if key == "entry":
            if resource_type not in (None, "Bundle"):
                raise RegistryFormatError(f"expected a Bundle, found {resource_type!r}", line=1)
            yield from _entries(json_stream)
        else:
            _line, value = json_stream.value()
            if key == "resourceType":
                resource_type = value
        if json_stream.peek() == ",":
            json_stream.expect(",")
    json_stream.expect("}")
    if resource_type != "Bundle":
        raise RegistryFormatError(f"expected resourceType Bundle, found {resource_type!r}", line=1)


def _entries(json_stream: _JsonStream) -> Iterator[tuple[int, RegistryItem]]:
    json_stream.expect("[")
    if json_stream.peek() == "]":
        json_stream.expect("]")
        return
    while True:
        line, entry = json_stream.value()
        try:
            yield line, _entry_item(entry)
        except FieldError as exc:
            yield line, exc
        if json_stream.peek() == ",":
            json_stream.expect(",")
            continue
        json_stream.expect("]")
        return


def _entry_item(entry: Any) -> RegistryRow | ParentLink:
    resource = entry.get("resource") if isinstance(entry, dict) else None
    if not isinstance(resource, dict):
        raise FieldError("resource", "missing", "entry has no resource object")
    kind = resource.get("resourceType")
    if kind == "Patient":
        return build_row(_patient_fields(resource))
    if kind == "RelatedPerson":
        return _parent_link(resource)
    raise FieldError("resourceType", "unsupported", f"resourceType {kind!r} is not Patient or RelatedPerson")


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _preferred(items: list[dict[str, Any]], use: str) -> dict[str, Any]:
    return next((item for item in items if item.get("use") == use), items[0] if items else {})


def _insurance_identifier(identifiers: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((i for i in identifiers if i.get("system") in NAM_SYSTEMS | NIR_SYSTEMS), None)


def _extension(resource: dict[str, Any], url: str, key: str) -> Any:
    return next((ext.get(key) for ext in _list(resource.get("extension")) if ext.get("url") == url), None)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _patient_fields(patient: dict[str, Any]) -> dict[str, str | None]:
    identifiers = _list(patient.get("identifier"))
    insurance = _insurance_identifier(identifiers)
    if insurance is None:
        raise FieldError("number", "missing", "no identifier with a NAM or NIR system")
    period = insurance.get("period")
    sequence = next((i.get("value") for i in identifiers if i.get("system") == CARD_SEQUENCE_SYSTEM), None)
    name = _preferred(_list(patient.get("name")), "official")
    given = name.get("given")
    address = _preferred(_list(patient.get("address")), "home")
    lines = [str(line) for line in address.get("line") or [] if line]
    qualified = _extension(patient, QUALIFIED_URL, "valueBoolean")
    return {
        "number": _text(insurance.get("value")),
        "card_sequence": _text(sequence),
        "card_expiry": str(period["end"])[:10] if isinstance(period, dict) and period.get("end") else None,
        "family_name": _text(name.get("family")),
        "given_names": " ".join(str(g) for g in given) if isinstance(given, list) else None,
        "birth_date": _text(patient.get("birthDate")),
        "sex": _text(patient.get("gender")),
        "address_line1": lines[0] if lines else None,
        "address_line2": ", ".join(lines[1:]) or None,
        "postal_code": _text(address.get("postalCode")),
        "city": _text(address.get("city")),
        "country": _text(address.get("country")),
        "birthplace": _text(_extension(patient, BIRTHPLACE_URL, "valueCode")),
        "birthcountry": _text(_extension(patient, BIRTHCOUNTRY_URL, "valueCode")),
        "qualified": "true" if qualified is True else "false",
        "parent_numbers": None,
    }


def _parent_link(related: dict[str, Any]) -> ParentLink:
    roles = {
        coding.get("code")
        for concept in _list(related.get("relationship"))
        for coding in _list(concept.get("coding"))
    }
    if not roles & PARENT_ROLES:
        raise FieldError("relationship", "unsupported", f"relationship {sorted(map(str, roles))} is not a parent")
    patient = related.get("patient")
    child = patient.get("identifier") if isinstance(patient, dict) else None
    if not isinstance(child, dict) or child.get("system") not in NAM_SYSTEMS | NIR_SYSTEMS:
        raise FieldError("patient", "reference", "patient must be referenced by identifier (NAM or NIR system)")
    parent = _insurance_identifier(_list(related.get("identifier")))
    if parent is None:
        raise FieldError("identifier", "missing", "RelatedPerson has no identifier with a NAM or NIR system")
    return ParentLink(
        child_number=parse_number(str(child.get("value") or "")).value,
        parent_number=parse_number(str(parent.get("value") or "")).value,
    )


def open_registry(path: Path) -> TextIO:
    """Open for either reader: UTF-8 with an optional BOM (spreadsheet exports add one), newlines left to csv."""
    return path.open(encoding="utf-8-sig", newline="")
