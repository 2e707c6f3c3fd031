from __future__ import annotations

import pytest

from idp.enrollment.matching import letters_only, normalise_name, same_given_name, same_name


@pytest.mark.parametrize("typed", ["Lefèbvre-D'Amour", "LEFEBVRE D AMOUR", "lefebvre damour", " Lefebvre–D’Amour "])
def test_case_accents_spaces_hyphens_apostrophes_are_ignored(typed: str) -> None:
    assert same_name(typed, "Lefèbvre-D'Amour")


def test_different_names_do_not_match() -> None:
    assert not same_name("Lefebvre", "Lefèbvre-D'Amour")
    assert not same_name("", "")  # an empty name never matches, even an empty record


def test_ligatures_are_spelled_out() -> None:
    assert normalise_name("Lætitia Œuvray") == "laetitiaoeuvray"
    assert letters_only("Müller-Straße") == "MULLERSTRASSE"


def test_given_name_matches_all_names_or_the_first() -> None:
    assert same_given_name("emilie", "Émilie Claire")
    assert same_given_name("Émilie Claire", "Émilie Claire")
    assert same_given_name("jean marc", "Jean-Marc Louis")
    assert not same_given_name("Claire", "Émilie Claire")
