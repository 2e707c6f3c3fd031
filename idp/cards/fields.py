"""One table from PS_LibreAcces column → model attribute → Pro Santé Connect claim name.

The directory import reads columns by these headers and the claims builder names attributes by these claim
names; keeping both in one table stops them drifting apart. Header spellings are those of the public
"PS_LibreAcces_Personne_activite" extract of the Annuaire Santé (pipe-separated, UTF-8, trailing `|`).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ACTIVITY_FIELDS",
    "ACTIVITY_KEY",
    "EXERCISE_FIELDS",
    "EXERCISE_KEY",
    "PROFESSIONAL_HEADERS",
    "PS_LIBRE_ACCES_HEADER",
    "REQUIRED_HEADERS",
    "Field",
    "extract_line",
]


class Field(NamedTuple):
    attribute: str
    header: str
    claim: str


PROFESSIONAL_HEADERS = {
    "id_type": "Type d'identifiant PP",
    "rpps": "Identifiant PP",
    "national_id": "Identification nationale PP",
    "code_civilite": "Code civilité",
}

EXERCISE_FIELDS: tuple[Field, ...] = (
    Field("code_profession", "Code profession", "codeProfession"),
    Field("code_categorie_professionnelle", "Code catégorie professionnelle", "codeCategorieProfessionnelle"),
    Field("code_civilite_exercice", "Code civilité d'exercice", "codeCiviliteDexercice"),
    Field("nom_exercice", "Nom d'exercice", "nomDexercice"),
    Field("prenom_exercice", "Prénom d'exercice", "prenomDexercice"),
    Field("code_type_savoir_faire", "Code type savoir-faire", "codeTypeSavoirFaire"),
    Field("code_savoir_faire", "Code savoir-faire", "codeSavoirFaire"),
)

# An exercise is one profession with one skill; the extract repeats it on each activity line.
EXERCISE_KEY = ("code_profession", "code_type_savoir_faire", "code_savoir_faire")

ACTIVITY_FIELDS: tuple[Field, ...] = (
    Field("code_mode_exercice", "Code mode exercice", "codeModeExercice"),
    Field("code_secteur_activite", "Code secteur d'activité", "codeSecteurDactivite"),
    Field("code_section_pharmacien", "Code section tableau pharmaciens", "codeSectionPharmacien"),
    Field("code_role", "Code rôle", "codeRole"),
    Field("numero_siret_site", "Numéro SIRET site", "numeroSiretSite"),
    Field("numero_siren_site", "Numéro SIREN site", "numeroSirenSite"),
    Field("numero_finess_site", "Numéro FINESS site", "numeroFinessSite"),
    Field("numero_finess_etablissement_juridique", "Numéro FINESS établissement juridique",
          "numeroFinessetablissementJuridique"),
    Field("identifiant_technique_structure", "Identifiant technique de la structure",
          "identifiantTechniqueDeLaStructure"),
    Field("raison_sociale_site", "Raison sociale site", "raisonSocialeSite"),
    Field("enseigne_commerciale_site", "Enseigne commerciale site", "enseigneCommercialeSite"),
    Field("complement_destinataire", "Complément destinataire (coord. structure)", "complementDestinataire"),
    Field("complement_point_geographique", "Complément point géographique (coord. structure)",
          "complementPointGeographique"),
    Field("numero_voie", "Numéro Voie (coord. structure)", "numeroVoie"),
    Field("indice_repetition_voie", "Indice répétition voie (coord. structure)", "indiceRepetitionVoie"),
    Field("code_type_voie", "Code type de voie (coord. structure)", "codeTypeDeVoie"),
    Field("libelle_voie", "Libellé Voie (coord. structure)", "libelleVoie"),
    Field("mention_distribution", "Mention distribution (coord. structure)", "mentionDistribution"),
    Field("bureau_cedex", "Bureau cedex (coord. structure)", "bureauCedex"),
    Field("code_postal", "Code postal (coord. structure)", "codePostal"),
    Field("code_commune", "Code commune (coord. structure)", "codeCommune"),
    Field("code_pays", "Code pays (coord. structure)", "codePays"),
    Field("telephone", "Téléphone (coord. structure)", "telephone"),
    Field("telephone2", "Téléphone 2 (coord. structure)", "telephone2"),
    Field("telecopie", "Télécopie (coord. structure)", "telecopie"),
    Field("adresse_email", "Adresse e-mail (coord. structure)", "adresseEMail"),
    Field("code_departement", "Code Département (structure)", "codeDepartement"),
    Field("ancien_identifiant_structure", "Ancien identifiant de la structure", "ancienIdentifiantDeLaStructure"),
    Field("autorite_enregistrement", "Autorité d'enregistrement", "autoriteDenregistrement"),
)

# One activity of an exercise: where (structure) and how (mode, sector, role) the professional works.
ACTIVITY_KEY = ("identifiant_technique_structure", "code_mode_exercice", "code_secteur_activite", "code_role")

REQUIRED_HEADERS = (*PROFESSIONAL_HEADERS.values(), "Code profession", "Nom d'exercice")

# The full header of the public extract, in file order (each line, header included, ends with `|`).
PS_LIBRE_ACCES_HEADER: tuple[str, ...] = (
    "Type d'identifiant PP", "Identifiant PP", "Identification nationale PP", "Code civilité d'exercice",
    "Libellé civilité d'exercice", "Code civilité", "Libellé civilité", "Nom d'exercice", "Prénom d'exercice",
    "Code profession", "Libellé profession", "Code catégorie professionnelle", "Libellé catégorie professionnelle",
    "Code type savoir-faire", "Libellé type savoir-faire", "Code savoir-faire", "Libellé savoir-faire",
    "Code mode exercice", "Libellé mode exercice", "Numéro SIRET site", "Numéro SIREN site", "Numéro FINESS site",
    "Numéro FINESS établissement juridique", "Identifiant technique de la structure", "Raison sociale site",
    "Enseigne commerciale site", "Complément destinataire (coord. structure)",
    "Complément point géographique (coord. structure)", "Numéro Voie (coord. structure)",
    "Indice répétition voie (coord. structure)", "Code type de voie (coord. structure)",
    "Libellé type de voie (coord. structure)", "Libellé Voie (coord. structure)",
    "Mention distribution (coord. structure)", "Bureau cedex (coord. structure)", "Code postal (coord. structure)",
    "Code commune (coord. structure)", "Libellé commune (coord. structure)", "Code pays (coord. structure)",
    "Libellé pays (coord. structure)", "Téléphone (coord. structure)", "Téléphone 2 (coord. structure)",
    "Télécopie (coord. structure)", "Adresse e-mail (coord. structure)", "Code Département (structure)",
    "Libellé Département (structure)", "Ancien identifiant de la structure", "Autorité d'enregistrement",
    "Code secteur d'activité", "Libellé secteur d'activité", "Code section tableau pharmaciens",
    "Libellé section tableau pharmaciens",
)


def extract_line(values: dict[str, str], header: tuple[str, ...] = PS_LIBRE_ACCES_HEADER) -> str:
    """One extract line (with its trailing `|`) from values keyed by header; missing columns are empty."""
    return "|".join(values.get(name, "") for name in header) + "|"
