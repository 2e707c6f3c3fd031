"""PS_LibreAcces import: streaming upsert, idempotence, bad lines reported by number; PSC claims."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from idp.cards.claims import psc_claims
from idp.cards.directory import DirectoryFormatError, find_professional, import_directory
from idp.cards.errors import NotInDirectory
from idp.cards.fields import PS_LIBRE_ACCES_HEADER, extract_line
from idp.cards.models import Professional, ProfessionalActivity, ProfessionalExercise
from idp.db import Database

HEADER = "|".join(PS_LIBRE_ACCES_HEADER) + "|"
DOCTOR = {
    "Type d'identifiant PP": "8", "Identifiant PP": "10001045367", "Identification nationale PP": "810001045367",
    "Code civilité d'exercice": "DR", "Code civilité": "M", "Nom d'exercice": "GUIGNARD", "Prénom d'exercice": "ERIC",
    "Code profession": "10", "Code catégorie professionnelle": "C", "Code type savoir-faire": "S",
    "Code savoir-faire": "SM49", "Code mode exercice": "S", "Numéro SIRET site": "85131528300016",
    "Identifiant technique de la structure": "R10100000328372", "Raison sociale site": "CENTRE DE SANTE NORD",
    "Libellé Voie (coord. structure)": "CARRICK HOUSE", "Code postal (coord. structure)": "75009",
    "Code secteur d'activité": "SA32", "Autorité d'enregistrement": "CNOM/CNOM/CNOM",
}
DOCTOR_LIBERAL = {**DOCTOR, "Code mode exercice": "L", "Identifiant technique de la structure": "R95141",
                  "Raison sociale site": "CABINET DR GUIGNARD", "Code secteur d'activité": "SA07"}
NURSE = {**DOCTOR, "Identifiant PP": "10002367406", "Identification nationale PP": "810002367406",
         "Code civilité d'exercice": "", "Code civilité": "MME", "Nom d'exercice": "MARTIN",
         "Prénom d'exercice": "ANNE", "Code profession": "60", "Code type savoir-faire": "", "Code savoir-faire": ""}


def write(tmp_path: Path, *rows: dict[str, str] | str, name: str = "extract.txt") -> Path:
    path = tmp_path / name
    lines = [HEADER] + [row if isinstance(row, str) else extract_line(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def count(db: Database, model: type[object]) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_import_creates_professionals_exercises_and_activities(db: Database, tmp_path: Path) -> None:
    summary = await import_directory(db, write(tmp_path, DOCTOR, DOCTOR_LIBERAL, NURSE), progress=False)
    assert (summary.imported, summary.updated, summary.unchanged, summary.rejected) == (3, 0, 0, 0)
    assert await count(db, Professional) == 2
    assert await count(db, ProfessionalExercise) == 2
    assert await count(db, ProfessionalActivity) == 3


async def test_reimport_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, DOCTOR, DOCTOR_LIBERAL, NURSE)
    await import_directory(db, path, progress=False)
    before = await find_professional(db, "810001045367")
    summary = await import_directory(db, path, progress=False, batch_size=2)
    assert (summary.imported, summary.updated, summary.unchanged, summary.rejected) == (0, 0, 3, 0)
    after = await find_professional(db, "810001045367")
    assert after.updated_at == before.updated_at
    assert await count(db, ProfessionalActivity) == 3


async def test_changed_line_updates_in_place(db: Database, tmp_path: Path) -> None:
    await import_directory(db, write(tmp_path, DOCTOR, NURSE), progress=False)
    moved = {**DOCTOR, "Code postal (coord. structure)": "75010"}
    summary = await import_directory(db, write(tmp_path, moved, NURSE, name="v2.txt"), progress=False)
    assert (summary.imported, summary.updated, summary.unchanged) == (0, 1, 1)
    doctor = await find_professional(db, "810001045367")
    assert doctor.exercises[0].activities[0].code_postal == "75010"
    assert await count(db, ProfessionalActivity) == 2


async def test_bad_lines_are_reported_with_line_number_and_skipped(db: Database, tmp_path: Path) -> None:
    rows: list[dict[str, str] | str] = [
        DOCTOR,
        {**NURSE, "Identifiant PP": "10002367407", "Identification nationale PP": "810002367407"},  # 3: Luhn
        {**NURSE, "Type d'identifiant PP": "0", "Identifiant PP": "759124159"},  # 4: ADELI
        {**NURSE, "Identification nationale PP": "810001045367"},  # 5: id mismatch
        {**NURSE, "Code profession": ""},  # 6
        "8|10002367406|810002367406|too|few",  # 7
        {**NURSE, "Nom d'exercice": ""},  # 8
        NURSE,  # 9: fine
    ]
    summary = await import_directory(db, write(tmp_path, *rows), progress=False)
    assert (summary.imported, summary.rejected) == (2, 6)
    reasons = {r.line: r.reason for r in summary.rejections}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    assert "Luhn" in reasons[3]
    assert "not RPPS" in reasons[4]
    assert "not '8' + RPPS" in reasons[5]
    assert "Code profession" in reasons[6]
    assert "columns" in reasons[7]
    assert "Nom d'exercice" in reasons[8]


async def test_non_utf8_line_is_rejected_not_fatal(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, DOCTOR)
    with path.open("ab") as handle:
        handle.write(extract_line(NURSE).replace("MARTIN", "MART\xc9N").encode("latin-1") + b"\n")
    summary = await import_directory(db, path, progress=False)
    assert (summary.imported, summary.rejected) == (1, 1)
    assert summary.rejections[0].line == 3


async def test_file_without_required_columns_is_refused(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("nom;prenom\nA;B\n", encoding="utf-8")
    with pytest.raises(DirectoryFormatError, match="Identification nationale PP"):
        await import_directory(db, path, progress=False)


async def test_column_order_and_header_case_do_not_matter(db: Database, tmp_path: Path) -> None:
    header = tuple(reversed(PS_LIBRE_ACCES_HEADER))
    path = tmp_path / "reordered.txt"
    path.write_text("\ufeff" + "|".join(h.upper() for h in header) + "|\n" + extract_line(DOCTOR, header) + "\n",
                    encoding="utf-8")
    summary = await import_directory(db, path, progress=False)
    assert summary.imported == 1
    assert (await find_professional(db, "810001045367")).exercises[0].code_savoir_faire == "SM49"


async def test_progress_bar_shows_rows_per_second(db: Database, tmp_path: Path) -> None:
    console = Console(record=True, width=150, force_terminal=False)
    await import_directory(db, write(tmp_path, DOCTOR, NURSE, "bad"), progress=True, console=console)
    output = console.export_text()
    assert "rows/s" in output
    assert "line 4" in output


async def test_unknown_national_id_is_not_in_directory(db: Database) -> None:
    with pytest.raises(NotInDirectory) as caught:
        await find_professional(db, "810001045367")
    assert caught.value.code == "not_in_directory"


async def test_claims_have_the_pro_sante_connect_shape(db: Database, tmp_path: Path) -> None:
    await import_directory(db, write(tmp_path, DOCTOR, DOCTOR_LIBERAL), progress=False)
    claims = psc_claims(await find_professional(db, "810001045367"))
    assert claims["SubjectNameID"] == claims["preferred_username"] == "810001045367"
    assert (claims["given_name"], claims["family_name"]) == ("ERIC", "GUIGNARD")
    assert claims["SubjectRole"] == ["10^1.2.250.1.213.1.1.5.5"]
    assert claims["SubjectOrganization"] == "CENTRE DE SANTE NORD"
    assert claims["SubjectOrganizationID"] == "R10100000328372"
    assert claims["Secteur_Activite"] == "SA32^1.2.250.1.71.4.2.4"
    assert claims["otherIds"] == [{"identifiant": "810001045367", "origine": "RPPS", "qualite": 1}]
    assert claims["authMode"] == "CARD"
    ref = claims["SubjectRefPro"]
    assert ref["codeCivilite"] == "M"
    (exercice,) = ref["exercices"]
    assert {k: exercice[k] for k in ("codeProfession", "codeCategorieProfessionnelle", "codeCiviliteDexercice",
                                     "nomDexercice", "prenomDexercice", "codeTypeSavoirFaire", "codeSavoirFaire")} \
        == {"codeProfession": "10", "codeCategorieProfessionnelle": "C", "codeCiviliteDexercice": "DR",
            "nomDexercice": "GUIGNARD", "prenomDexercice": "ERIC", "codeTypeSavoirFaire": "S",
            "codeSavoirFaire": "SM49"}
    salaried, liberal = exercice["activities"]
    assert (salaried["codeModeExercice"], liberal["codeModeExercice"]) == ("S", "L")
    assert liberal["identifiantTechniqueDeLaStructure"] == "R95141"
    assert liberal["raisonSocialeSite"] == "CABINET DR GUIGNARD"
    assert salaried["numeroSiretSite"] == "85131528300016"
    assert salaried["codeSecteurDactivite"] == "SA32"
    assert salaried["autoriteDenregistrement"] == "CNOM/CNOM/CNOM"
    assert {"codePostal", "libelleVoie", "numeroVoie", "codeTypeDeVoie", "bureauCedex", "codeCommune", "codePays",
            "complementDestinataire", "adresseEMail", "telephone"} <= set(salaried)


async def test_demo_extract_of_the_test_pki_imports_cleanly(db: Database, tmp_path: Path) -> None:
    from idp.cards.testpki import DEMO_PROFESSIONALS, demo_extract

    path = tmp_path / "demo.txt"
    path.write_text(demo_extract(DEMO_PROFESSIONALS), encoding="utf-8")
    summary = await import_directory(db, path, progress=False)
    assert (summary.imported, summary.rejected) == (len(DEMO_PROFESSIONALS), 0)
