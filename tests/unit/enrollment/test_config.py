from __future__ import annotations

import pytest

from idp.enrollment.config import EnrollmentSettings
from idp.errors import ConfigurationError


def test_defaults() -> None:
    settings = EnrollmentSettings.from_env({})
    assert (settings.minimum_age, settings.code_lifetime_days, settings.code_max_tries) == (14, 90, 1_000_000)
    assert (settings.guess_free_tries, settings.guess_ip_free_tries, settings.guess_first_delay_seconds,
            settings.guess_max_delay_seconds, settings.guess_window_seconds) == (5, 20, 15, 300, 3600)
    assert settings == EnrollmentSettings()  # typed defaults, not environment strings


def test_reads_variables() -> None:
    settings = EnrollmentSettings.from_env({"MANDAT_ENROLLMENT_MINIMUM_AGE": "18",
                                            "MANDAT_ENROLLMENT_TRUST_FRAMEWORK": "ca_qc"})
    assert (settings.minimum_age, settings.trust_framework) == (18, "ca_qc")


@pytest.mark.parametrize(
    ("name", "value"),
    [("MANDAT_ENROLLMENT_CODE_MAX_TRIES", "five"), ("MANDAT_ENROLLMENT_CODE_MAX_TRIES", "0"),
     ("MANDAT_ENROLLMENT_REGISTRY_COUNTRY", "FRA"), ("MANDAT_ENROLLMENT_REGISTRY_NAME", " "),
     ("MANDAT_ENROLLMENT_GUESS_WINDOW_SECONDS", "60"), ("MANDAT_ENROLLMENT_GUESS_FIRST_DELAY_SECONDS", "301")],
)
def test_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        EnrollmentSettings.from_env({name: value})
