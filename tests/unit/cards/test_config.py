from __future__ import annotations

import pytest

from idp.cards.config import CardSettings, parse_origin
from idp.cards.testpki import GeneratedPki
from idp.errors import ConfigurationError
from idp.settings import Settings


def test_defaults_disable_card_sign_in() -> None:
    settings = CardSettings.from_env({})
    assert not settings.enabled
    assert settings.challenge_ttl == 120
    assert settings.crl_refresh_seconds == 300
    assert settings.require_crl is True
    assert settings.client_cert_header == "X-SSL-Client-Cert"
    assert settings.idp_origin == "http://localhost:8000"


def test_read_through_core_settings(pki: GeneratedPki) -> None:
    core = Settings.from_env({**pki.env(), "MANDAT_ISSUER": "https://idp.example/mandat"})
    cards = core.domain(CardSettings.from_env)
    assert cards.enabled
    assert cards.crl_paths == tuple(str(p) for p in pki.crl_paths)
    assert cards.idp_origin == "https://idp.example"


@pytest.mark.parametrize(("env", "variable"), [
    ({"MANDAT_CARDS_TRUST_ANCHORS": "/nonexistent.pem"}, "MANDAT_CARDS_TRUST_ANCHORS"),
    ({"MANDAT_CARDS_CRL_PATHS": "/nonexistent.crl"}, "MANDAT_CARDS_CRL_PATHS"),
    ({"MANDAT_CARDS_CRL_URLS": "ftp://x/crl"}, "MANDAT_CARDS_CRL_URLS"),
    ({"MANDAT_CARDS_CHALLENGE_TTL": "abc"}, "MANDAT_CARDS_CHALLENGE_TTL"),
    ({"MANDAT_CARDS_CHALLENGE_TTL": "5"}, "MANDAT_CARDS_CHALLENGE_TTL"),
    ({"MANDAT_CARDS_REQUIRE_CRL": "maybe"}, "MANDAT_CARDS_REQUIRE_CRL"),
    ({"MANDAT_CARDS_AGENT_IDP_ORIGIN": "https://idp.example/login"}, "MANDAT_CARDS_AGENT_IDP_ORIGIN"),
    ({"MANDAT_CARDS_AGENT_PORT": "70000"}, "MANDAT_CARDS_AGENT_PORT"),
])
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        CardSettings.from_env(env)


@pytest.mark.parametrize(("raw", "origin"), [
    ("https://IDP.example:443/", "https://idp.example"),
    ("http://localhost:8000", "http://localhost:8000"),
    ("http://[::1]:8000", "http://[::1]:8000"),
])
def test_origins_are_normalised_as_browsers_send_them(raw: str, origin: str) -> None:
    assert parse_origin("X", raw) == origin


def test_every_setting_is_documented() -> None:
    from dataclasses import fields

    for f in fields(CardSettings):
        assert f.metadata["env"].startswith("MANDAT_")
        assert len(f.metadata["doc"]) > 20


def test_dev_warnings_flag_missing_revocation(pki: GeneratedPki) -> None:
    settings = CardSettings.from_env({"MANDAT_CARDS_TRUST_ANCHORS": str(pki.trust_anchors),
                                      "MANDAT_CARDS_REQUIRE_CRL": "false"})
    assert len(settings.dev_warnings()) == 2
