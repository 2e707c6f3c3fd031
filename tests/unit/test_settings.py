"""Settings: every bad MANDAT_* value stops start-up with a ConfigurationError naming the variable."""

from __future__ import annotations

from dataclasses import fields

import pytest

from idp.errors import ConfigurationError
from idp.settings import Settings

BASE = {"MANDAT_ISSUER": "http://localhost:8000", "MANDAT_DATABASE_URL": "sqlite+aiosqlite:///x.db"}
INT_VARIABLES = [str(f.metadata["env"]) for f in fields(Settings)
                 if "env" in f.metadata and str(f.type).startswith("int")]


def load(**values: str) -> Settings:
    return Settings.from_env({**BASE, **values})


def test_defaults_are_valid() -> None:
    settings = Settings.from_env({})
    assert settings.issuer == "http://localhost:8000"
    assert settings.code_ttl == 60
    assert settings.secure_cookies is False


def test_every_variable_is_documented() -> None:
    for f in fields(Settings):
        assert f.metadata.get("doc"), f.name


def test_int_variables_were_found() -> None:
    assert "MANDAT_CODE_TTL" in INT_VARIABLES and "MANDAT_MAX_BODY_BYTES" in INT_VARIABLES


@pytest.mark.parametrize("name", INT_VARIABLES)
def test_non_integer_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{name} must be an integer, got 'ten'$"):
        load(**{name: "ten"})


@pytest.mark.parametrize("name", INT_VARIABLES)
def test_negative_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{name} must be at least 0, got -1$"):
        load(**{name: "-1"})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("MANDAT_ISSUER", "ftp://localhost", "MANDAT_ISSUER must be an absolute URL, got 'ftp://localhost'"),
    ("MANDAT_ISSUER", "localhost:8000", "MANDAT_ISSUER must be an absolute URL, got 'localhost:8000'"),
    ("MANDAT_ISSUER", "http://idp.example", "MANDAT_ISSUER must use https outside localhost"),
    ("MANDAT_ISSUER", "https://idp.example/", "MANDAT_ISSUER must have no query, fragment or trailing slash"),
    ("MANDAT_ISSUER", "https://idp.example?x=1", "MANDAT_ISSUER must have no query, fragment or trailing slash"),
    ("MANDAT_DATABASE_URL", "mysql://db/x",
     "MANDAT_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"),
    ("MANDAT_DATABASE_URL", "postgresql://db/x",
     "MANDAT_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"),
    ("MANDAT_REDIS_URL", "http://cache:6379", "MANDAT_REDIS_URL must be a redis://, rediss:// or unix:// URL"),
    ("MANDAT_CODE_TTL", "0", "MANDAT_CODE_TTL must be between 1 and 60 seconds"),
    ("MANDAT_CODE_TTL", "61", "MANDAT_CODE_TTL must be between 1 and 60 seconds"),
    ("MANDAT_DEFAULT_LOCALE", "de", "MANDAT_DEFAULT_LOCALE must be fr or en"),
    ("MANDAT_DEMO", "maybe", "MANDAT_DEMO must be true or false, got 'maybe'"),
    ("MANDAT_ACCESS_TOKEN_TTL", "0", "MANDAT_ACCESS_TOKEN_TTL must be positive"),
    ("MANDAT_ID_TOKEN_TTL", "0", "MANDAT_ID_TOKEN_TTL must be positive"),
    ("MANDAT_REFRESH_TOKEN_TTL", "0", "MANDAT_REFRESH_TOKEN_TTL must be positive"),
    ("MANDAT_GRANT_ABSOLUTE_TTL", "0", "MANDAT_GRANT_ABSOLUTE_TTL must be positive"),
    ("MANDAT_OFFLINE_GRANT_ABSOLUTE_TTL", "0", "MANDAT_OFFLINE_GRANT_ABSOLUTE_TTL must be positive"),
    ("MANDAT_SESSION_IDLE_TTL", "0", "MANDAT_SESSION_IDLE_TTL must be positive"),
    ("MANDAT_SESSION_ABSOLUTE_TTL", "0", "MANDAT_SESSION_ABSOLUTE_TTL must be positive"),
    ("MANDAT_INTERACTION_TTL", "0", "MANDAT_INTERACTION_TTL must be positive"),
    ("MANDAT_MAX_BODY_BYTES", "0", "MANDAT_MAX_BODY_BYTES must be positive"),
    ("MANDAT_LOGIN_MAX_FAILURES", "0", "MANDAT_LOGIN_MAX_FAILURES must be positive"),
    ("MANDAT_LOGIN_IP_MAX_FAILURES", "0", "MANDAT_LOGIN_IP_MAX_FAILURES must be positive"),
    ("MANDAT_ARGON2_TIME_COST", "0", "MANDAT_ARGON2_TIME_COST must be positive"),
    ("MANDAT_ARGON2_PARALLELISM", "0", "MANDAT_ARGON2_PARALLELISM must be positive"),
    ("MANDAT_ARGON2_MEMORY_KIB", "4",
     "MANDAT_ARGON2_MEMORY_KIB must be at least 8 × MANDAT_ARGON2_PARALLELISM"),
])
def test_bad_value_names_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load(**{name: value})
    assert str(raised.value) == message


def test_secure_cookies_outside_localhost() -> None:
    assert load(MANDAT_ISSUER="https://idp.example").secure_cookies is True
    assert load(MANDAT_ISSUER="http://127.0.0.1:8000").secure_cookies is False


def test_dev_warnings() -> None:
    warnings = load().dev_warnings()
    assert any("MANDAT_REDIS_URL" in w for w in warnings)
    assert any("MANDAT_DATABASE_URL" in w for w in warnings)
    production = load(MANDAT_DATABASE_URL="postgresql+asyncpg://db/x", MANDAT_REDIS_URL="redis://cache")
    assert production.dev_warnings() == []
