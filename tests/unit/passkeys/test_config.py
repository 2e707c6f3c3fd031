"""PasskeySettings.from_env: defaults from the issuer, and a failure naming the variable for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp.errors import ConfigurationError
from idp.passkeys.config import PasskeySettings
from tests.unit.passkeys.conftest import CHROMIUM_ROOT


def test_defaults_follow_the_issuer() -> None:
    settings = PasskeySettings.from_env({"MANDAT_ISSUER": "https://login.mandat.example"})
    assert settings.rp_id == "login.mandat.example"
    assert settings.origins == ("https://login.mandat.example",)
    assert settings.rp_name == "Mandat"
    assert settings.algorithms == (-7, -8, -257)
    assert settings.aaguid_allow_list == frozenset()
    assert dict(settings.attestation_roots) == {}
    assert (settings.challenge_ttl, settings.timeout_ms) == (300, 300_000)


def test_localhost_issuer_keeps_its_port_in_the_origin() -> None:
    settings = PasskeySettings.from_env({})
    assert (settings.rp_id, settings.origins) == ("localhost", ("http://localhost:8000",))


def test_explicit_values(tmp_path: Path) -> None:
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(CHROMIUM_ROOT + CHROMIUM_ROOT)
    settings = PasskeySettings.from_env({
        "MANDAT_ISSUER": "https://login.mandat.example",
        "MANDAT_PASSKEYS_RP_ID": "mandat.example",
        "MANDAT_PASSKEYS_ORIGINS": "https://login.mandat.example, https://mandat.example",
        "MANDAT_PASSKEYS_ALGORITHMS": "EdDSA,ES256",
        "MANDAT_PASSKEYS_AAGUID_ALLOW_LIST": (
            "01020304-0506-0708-0102-030405060708,CB69481E-8FF7-4039-93EC-0A2729A154A8"
        ),
        "MANDAT_PASSKEYS_ATTESTATION_ROOTS": f"packed={bundle}",
        "MANDAT_PASSKEYS_CHALLENGE_TTL": "120",
        "MANDAT_PASSKEYS_TIMEOUT_MS": "60000",
    })
    assert settings.rp_id == "mandat.example"
    assert settings.origins == ("https://login.mandat.example", "https://mandat.example")
    assert settings.algorithms == (-8, -7)
    assert settings.aaguid_allow_list == {
        "01020304-0506-0708-0102-030405060708", "cb69481e-8ff7-4039-93ec-0a2729a154a8",
    }
    assert len(settings.attestation_roots["packed"]) == 2
    assert (settings.challenge_ttl, settings.timeout_ms) == (120, 60_000)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MANDAT_PASSKEYS_AAGUID_ALLOW_LIST": "not-a-uuid"}, "MANDAT_PASSKEYS_AAGUID_ALLOW_LIST"),
        ({"MANDAT_PASSKEYS_ALGORITHMS": "ES256,PS999"}, "MANDAT_PASSKEYS_ALGORITHMS"),
        ({"MANDAT_PASSKEYS_ALGORITHMS": ""}, "MANDAT_PASSKEYS_ALGORITHMS"),
        ({"MANDAT_PASSKEYS_ORIGINS": "https://evil.example"}, "MANDAT_PASSKEYS_ORIGINS"),
        ({"MANDAT_PASSKEYS_ORIGINS": "http://localhost:8000/login"}, "MANDAT_PASSKEYS_ORIGINS"),
        ({"MANDAT_PASSKEYS_RP_ID": "https://localhost"}, "MANDAT_PASSKEYS_RP_ID"),
        ({"MANDAT_PASSKEYS_ATTESTATION_ROOTS": "packed=/nonexistent.pem"}, "MANDAT_PASSKEYS_ATTESTATION_ROOTS"),
        ({"MANDAT_PASSKEYS_ATTESTATION_ROOTS": "bogus=/x.pem"}, "MANDAT_PASSKEYS_ATTESTATION_ROOTS"),
        ({"MANDAT_PASSKEYS_CHALLENGE_TTL": "0"}, "MANDAT_PASSKEYS_CHALLENGE_TTL"),
        ({"MANDAT_PASSKEYS_CHALLENGE_TTL": "soon"}, "MANDAT_PASSKEYS_CHALLENGE_TTL"),
        ({"MANDAT_PASSKEYS_TIMEOUT_MS": "600000"}, "MANDAT_PASSKEYS_TIMEOUT_MS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        PasskeySettings.from_env(env)


def test_http_origin_is_refused_outside_localhost() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        PasskeySettings.from_env({"MANDAT_ISSUER": "https://mandat.example",
                                  "MANDAT_PASSKEYS_ORIGINS": "http://mandat.example"})


def test_non_pem_root_bundle_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "roots.pem"
    bundle.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="MANDAT_PASSKEYS_ATTESTATION_ROOTS"):
        PasskeySettings.from_env({"MANDAT_PASSKEYS_ATTESTATION_ROOTS": f"packed={bundle}"})


def test_an_ip_address_issuer_switches_passkeys_off_instead_of_failing() -> None:
    settings = PasskeySettings.from_env({"MANDAT_ISSUER": "http://127.0.0.1:8000"})
    assert settings.enabled is False
    with pytest.raises(ConfigurationError, match="MANDAT_PASSKEYS_ORIGINS"):
        PasskeySettings.from_env({"MANDAT_ISSUER": "http://127.0.0.1:8000", "MANDAT_PASSKEYS_RP_ID": "localhost"})
