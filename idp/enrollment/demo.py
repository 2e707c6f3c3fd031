"""Synthetic insurer registry: valid, deterministic records for demo seeding, tests and the 1M-row benchmark.

Numbers are unique by construction (NIR: department, commune and order number come from the row index; NAM:
birth date and administrative digits do), so any `n` up to 2,000,000 gives distinct records. Names include
accents, hyphens, apostrophes and a two-letter surname to exercise the matching and NAM rules. One row in ten is
a child born 2012–2020 whose parent is the row before it.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from idp.enrollment.identifiers import nam_letters, nir_key
from idp.enrollment.registry_readers import CSV_COLUMNS

if TYPE_CHECKING:
    from rich.console import Console

    from idp.container import Container

__all__ = ["DEMO_CHILD", "DEMO_CITIZEN", "DEMO_PARENT", "demo_registry_rows", "seed_demo", "write_demo_csv"]

_FAMILY = ("Tremblay", "Gagnon", "Côté", "Lefèbvre", "Bouchard-Roy", "D'Amour", "Ng", "Lê", "Roy", "Gauthier",
           "Martin", "Bernard", "Dubois", "Petit", "Durand", "Moreau", "Laurent", "Bélanger", "Lévesque", "Ouellet")
_GIVEN_F = ("Marie", "Émilie", "Chloé", "Anne-Sophie", "Léa", "Camille", "Zoé", "Inès", "Manon", "Noémie")
_GIVEN_M = ("Jean", "Élie", "François", "Jean-Marc", "Louis", "Gabriel", "Noah", "Théo", "Hugo", "Raphaël")
_STREETS = ("rue de la Paix", "avenue Victor-Hugo", "boulevard Saint-Laurent", "rue Sainte-Catherine",
            "chemin du Roy", "place d'Youville")
_CITIES_FR = (("75011", "Paris"), ("69003", "Lyon"), ("13005", "Marseille"), ("20000", "Ajaccio"))
_CITIES_QC = (("H2X 1Y4", "Montréal"), ("G1R 4P5", "Québec"), ("J8X 3X7", "Gatineau"))


def _nir(index: int, sex: str, birth: date) -> str:
    order = index % 999 + 1
    commune = (index // 999) % 999 + 1
    dept = (index // 998_001) % 95 + 1
    first13 = f"{sex}{birth.year % 100:02d}{birth.month:02d}{dept:02d}{commune:03d}{order:03d}"
    return f"{first13}{nir_key(first13):02d}"


def demo_registry_rows(n: int, *, seed: int = 0) -> Iterator[dict[str, str]]:
    """`n` valid registry rows as CSV-column dicts (the same keys as `CSV_COLUMNS`)."""
    if n > 2_000_000:
        raise ValueError("demo numbers are unique only up to 2,000,000 rows")
    rng = random.Random(seed)
    previous_number = ""
    for index in range(n):
        female = rng.random() < 0.5
        given = rng.choice(_GIVEN_F if female else _GIVEN_M)
        family = rng.choice(_FAMILY)
        child = index % 10 == 9 and previous_number != ""
        quebec = index % 5 == 0
        if quebec:
            # One NAM per index/5: the date steps a day per 100 NAMs and the admin digits tell those 100 apart.
            nam_index = index // 5
            birth = (date(2012, 1, 1) if child else date(1935, 1, 1)) + timedelta(days=nam_index // 100)
            month = birth.month + (50 if female else 0)
            number = (f"{nam_letters(family, given)}{birth.year % 100:02d}{month:02d}"
                      f"{birth.day:02d}{nam_index % 100:02d}")
            postal_code, city = rng.choice(_CITIES_QC)
            country, birthplace, birthcountry = "CA", "", "99401"
        else:
            start = date(2012, 1, 1) if child else date(1935, 1, 1)
            birth = start + timedelta(days=rng.randrange(3000 if child else 25_000))
            number = _nir(index, "2" if female else "1", birth)
            postal_code, city = rng.choice(_CITIES_FR)
            country, birthplace, birthcountry = "FR", "", ""
        expiry = date(2027, 1, 1) + timedelta(days=rng.randrange(1500))
        yield {
            "number": number,
            "card_sequence": f"{rng.randrange(10**9):09d}",
            "card_expiry": expiry.isoformat()[:7] if quebec else expiry.isoformat(),
            "family_name": family,
            "given_names": f"{given} {rng.choice(_GIVEN_F if female else _GIVEN_M)}",
            "birth_date": birth.isoformat(),
            "sex": "F" if female else "M",
            "address_line1": f"{rng.randrange(1, 300)} {rng.choice(_STREETS)}",
            "address_line2": "",
            "postal_code": postal_code,
            "city": city,
            "country": country,
            "birthplace": birthplace,
            "birthcountry": birthcountry,
            "qualified": "true" if rng.random() < 0.3 else "false",
            "parent_numbers": previous_number if child else "",
        }
        previous_number = number


def write_demo_csv(path: Path, n: int, *, seed: int = 0) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(demo_registry_rows(n, seed=seed))


# --- demo seeding (`make run`) ------------------------------------------------------------------------------------

# Documented in README "Enrol a demo citizen". Numbers are valid (NIR key, NAM letters and date) and synthetic.
DEMO_CITIZEN: dict[str, str] = {
    "number": "185047511112371",  # NIR 1 85 04 75 111 123 71: a man born April 1985 in Paris 11e
    "card_sequence": "01",
    "card_expiry": "2030-06-30",
    "family_name": "Dupont-Lefèvre",
    "given_names": "Jean Michel",
    "birth_date": "1985-04-12",
    "sex": "M",
    "address_line1": "8 rue de la Roquette",
    "address_line2": "",
    "postal_code": "75011",
    "city": "Paris",
    "country": "FR",
    "birthplace": "75111",
    "birthcountry": "99100",
    "qualified": "true",
    "parent_numbers": "",
}
# A Québec parent and her child (under the default minimum age of 14): the child is refused, the parent enrols.
DEMO_PARENT: dict[str, str] = {
    **DEMO_CITIZEN,
    "number": "LEFE90551712", "card_sequence": "02", "card_expiry": "2028-03", "family_name": "Lefèbvre-D'Amour",
    "given_names": "Émilie Claire", "birth_date": "1990-05-17", "sex": "F", "address_line1": "12 rue Sainte-Catherine",
    "postal_code": "H2X 1Y4", "city": "Montréal", "country": "CA", "birthplace": "", "birthcountry": "99401",
    "qualified": "false",
}
DEMO_CHILD: dict[str, str] = {
    **DEMO_PARENT,
    "number": "LEFL16080312", "card_sequence": "01", "given_names": "Léo", "birth_date": "2016-08-03", "sex": "M",
    "parent_numbers": "LEFE90551712",
}
DEMO_SYNTHETIC_ROWS = 200


async def seed_demo(container: Container, console: Console) -> None:
    """Import the demo citizens and a few hundred synthetic records (an upsert: running it twice is harmless)."""
    import tempfile

    from idp.enrollment.registry_import import import_registry

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo-registry.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows([DEMO_CITIZEN, DEMO_PARENT, DEMO_CHILD])
            writer.writerows(demo_registry_rows(DEMO_SYNTHETIC_ROWS, seed=2026))
        summary = await import_registry(container.db, path, "csv", progress=False, console=console)
    console.print(f"Demo registry: {summary.imported + summary.updated + summary.unchanged} records "
                  f"(demo citizen {DEMO_CITIZEN['number']}, see README “Enrol a demo citizen”)")
