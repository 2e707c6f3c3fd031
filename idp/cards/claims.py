"""Pro Santé Connect-compatible claims from a directory record, so a portal written for PSC can switch to us.

Names and shapes follow the PSC userinfo: `SubjectNameID`, `preferred_username`, `given_name`, `family_name`,
`SubjectRefPro` {`codeCivilite`, `exercices[]` {…, `activities[]` {…}}}, `SubjectOrganization`,
`SubjectOrganizationID`, `SubjectRole` (`<profession code>^<OID>`), `Secteur_Activite` (`<code>^<OID>`),
`otherIds` and `authMode`. Absent values are empty strings, as PSC sends them.
"""

from __future__ import annotations

from typing import Any

from idp.cards.fields import ACTIVITY_FIELDS, EXERCISE_FIELDS
from idp.cards.models import Professional, ProfessionalActivity, ProfessionalExercise

__all__ = ["PROFESSION_OID", "SECTOR_OID", "exercise_claims", "psc_claims"]

PROFESSION_OID = "1.2.250.1.213.1.1.5.5"  # nomenclature of professions (as in PSC `SubjectRole`)
SECTOR_OID = "1.2.250.1.71.4.2.4"  # nomenclature of activity sectors (as in PSC `Secteur_Activite`)


def activity_claims(activity: ProfessionalActivity) -> dict[str, str]:
    return {f.claim: getattr(activity, f.attribute) for f in ACTIVITY_FIELDS}


def exercise_claims(exercise: ProfessionalExercise) -> dict[str, Any]:
    claims: dict[str, Any] = {f.claim: getattr(exercise, f.attribute) for f in EXERCISE_FIELDS}
    claims["activities"] = [activity_claims(a) for a in exercise.activities]
    return claims


def psc_claims(professional: Professional, *, auth_mode: str = "CARD") -> dict[str, Any]:
    """Every PSC claim for `professional` (exercises and activities must be loaded, see find_professional).

    The organization claims describe the first activity of the first exercise, the PSC convention for the
    "current" structure when the user did not choose one.
    """
    exercises = professional.exercises
    first = next((a for e in exercises for a in e.activities), None)
    roles = list(dict.fromkeys(f"{e.code_profession}^{PROFESSION_OID}" for e in exercises))
    claims: dict[str, Any] = {
        "SubjectNameID": professional.national_id,
        "preferred_username": professional.national_id,
        "given_name": professional.given_name,
        "family_name": professional.family_name,
        "SubjectRefPro": {
            "codeCivilite": professional.code_civilite,
            "exercices": [exercise_claims(e) for e in exercises],
        },
        "SubjectOrganization": first.raison_sociale_site if first else "",
        "SubjectOrganizationID": first.identifiant_technique_structure if first else "",
        "SubjectRole": roles,
        "otherIds": [{"identifiant": professional.national_id, "origine": "RPPS", "qualite": 1}],
        "authMode": auth_mode,
    }
    if first is not None and first.code_secteur_activite:
        claims["Secteur_Activite"] = f"{first.code_secteur_activite}^{SECTOR_OID}"
    return claims
