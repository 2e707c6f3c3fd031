"""Durable professional directory records, imported from the RPPS "PS_LibreAcces" extract (directory.py).

A professional (national id `8`+RPPS) has exercises (a profession, with a skill), and each exercise has
activities (a structure, a mode of exercise, an address). Column names follow fields.py, which also maps
them to the PSC claim names. Codes are kept as the extract gives them; empty means "not given", never NULL,
so the unique keys below also hold for absent values.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.db import Base, UTCDateTime, utcnow

__all__ = ["FIELD_MAX_LENGTH", "Professional", "ProfessionalActivity", "ProfessionalExercise"]

FIELD_MAX_LENGTH = 300


def new_id() -> str:
    # Client-side ids let SQLAlchemy batch the inserts of an import; server-generated ones force one
    # INSERT per row on SQLite, which cannot return generated keys in a guaranteed order.
    return uuid.uuid4().hex


def _code() -> Mapped[str]:
    return mapped_column(String(FIELD_MAX_LENGTH), default="")


class Professional(Base):
    __tablename__ = "professionals"

    national_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    id_type: Mapped[str] = mapped_column(String(2))
    rpps: Mapped[str] = mapped_column(String(11), unique=True)
    code_civilite: Mapped[str] = _code()
    # Display names: the extract only carries exercise names; these come from the professional's first line.
    family_name: Mapped[str] = _code()
    given_name: Mapped[str] = _code()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    exercises: Mapped[list[ProfessionalExercise]] = relationship(
        back_populates="professional", cascade="all, delete-orphan", order_by="ProfessionalExercise.position",
        lazy="raise",
    )


class ProfessionalExercise(Base):
    __tablename__ = "professional_exercises"
    __table_args__ = (UniqueConstraint("national_id", "code_profession", "code_type_savoir_faire",
                                       "code_savoir_faire"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    national_id: Mapped[str] = mapped_column(ForeignKey("professionals.national_id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)  # order of first appearance in the extract
    code_profession: Mapped[str] = _code()
    code_categorie_professionnelle: Mapped[str] = _code()
    code_civilite_exercice: Mapped[str] = _code()
    nom_exercice: Mapped[str] = _code()
    prenom_exercice: Mapped[str] = _code()
    code_type_savoir_faire: Mapped[str] = _code()
    code_savoir_faire: Mapped[str] = _code()

    professional: Mapped[Professional] = relationship(back_populates="exercises", lazy="raise")
    activities: Mapped[list[ProfessionalActivity]] = relationship(
        back_populates="exercise", cascade="all, delete-orphan", order_by="ProfessionalActivity.position", lazy="raise",
    )


class ProfessionalActivity(Base):
    __tablename__ = "professional_activities"
    __table_args__ = (UniqueConstraint("exercise_id", "identifiant_technique_structure", "code_mode_exercice",
                                       "code_secteur_activite", "code_role"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    exercise_id: Mapped[str] = mapped_column(ForeignKey("professional_exercises.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)  # order of first appearance in the extract
    code_mode_exercice: Mapped[str] = _code()
    code_secteur_activite: Mapped[str] = _code()
    code_section_pharmacien: Mapped[str] = _code()
    code_role: Mapped[str] = _code()
    numero_siret_site: Mapped[str] = _code()
    numero_siren_site: Mapped[str] = _code()
    numero_finess_site: Mapped[str] = _code()
    numero_finess_etablissement_juridique: Mapped[str] = _code()
    identifiant_technique_structure: Mapped[str] = _code()
    raison_sociale_site: Mapped[str] = _code()
    enseigne_commerciale_site: Mapped[str] = _code()
    complement_destinataire: Mapped[str] = _code()
    complement_point_geographique: Mapped[str] = _code()
    numero_voie: Mapped[str] = _code()
    indice_repetition_voie: Mapped[str] = _code()
    code_type_voie: Mapped[str] = _code()
    libelle_voie: Mapped[str] = _code()
    mention_distribution: Mapped[str] = _code()
    bureau_cedex: Mapped[str] = _code()
    code_postal: Mapped[str] = _code()
    code_commune: Mapped[str] = _code()
    code_pays: Mapped[str] = _code()
    telephone: Mapped[str] = _code()
    telephone2: Mapped[str] = _code()
    telecopie: Mapped[str] = _code()
    adresse_email: Mapped[str] = _code()
    code_departement: Mapped[str] = _code()
    ancien_identifiant_structure: Mapped[str] = _code()
    autorite_enregistrement: Mapped[str] = _code()

    exercise: Mapped[ProfessionalExercise] = relationship(back_populates="activities", lazy="raise")


Index("ix_professional_exercises_national_id", ProfessionalExercise.national_id)
Index("ix_professional_activities_structure", ProfessionalActivity.identifiant_technique_structure)
