"""Request-header limits: 431 Request Header Fields Too Large (RFC 6585 §5) beyond the configured ones."""

from __future__ import annotations

import httpx
import pytest

from idp.errors import ConfigurationError
from idp.settings import Settings
from tests.conftest import Env


def assert_431(response: httpx.Response) -> None:
    assert response.status_code == 431
    assert response.text == "Request Header Fields Too Large\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"  # still gets the security headers


async def test_too_many_headers_is_431(sqlite_env: Env) -> None:
    limit = sqlite_env.settings.max_header_count
    headers = [(f"x-extra-{i}", "1") for i in range(limit + 1)]
    assert_431(await sqlite_env.http.get("/.well-known/openid-configuration", headers=headers))


async def test_one_oversized_header_is_431(sqlite_env: Env) -> None:
    value = "a" * sqlite_env.settings.max_header_bytes
    assert_431(await sqlite_env.http.get("/.well-known/openid-configuration", headers={"x-big": value}))


async def test_headers_over_the_total_is_431(sqlite_env: Env) -> None:
    settings = sqlite_env.settings
    field = "a" * (settings.max_header_bytes - 100)
    count = settings.max_headers_total_bytes // len(field) + 1
    assert count < settings.max_header_count
    headers = [(f"x-part-{i}", field) for i in range(count)]
    assert_431(await sqlite_env.http.get("/.well-known/openid-configuration", headers=headers))


async def test_normal_requests_are_unaffected(sqlite_env: Env) -> None:
    settings = sqlite_env.settings
    response = await sqlite_env.http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    # Just under each limit still passes.
    near = [(f"x-extra-{i}", "1") for i in range(settings.max_header_count - len(response.request.headers))]
    assert (await sqlite_env.http.get("/.well-known/openid-configuration", headers=near)).status_code == 200
    big = "a" * (settings.max_header_bytes - len("x-big"))
    assert (await sqlite_env.http.get("/.well-known/openid-configuration",
                                      headers={"x-big": big})).status_code == 200


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("MANDAT_MAX_HEADER_COUNT", "0", "MANDAT_MAX_HEADER_COUNT must be positive"),
    ("MANDAT_MAX_HEADER_BYTES", "0", "MANDAT_MAX_HEADER_BYTES must be positive"),
    ("MANDAT_MAX_HEADERS_TOTAL_BYTES", "100",
     "MANDAT_MAX_HEADERS_TOTAL_BYTES must be at least MANDAT_MAX_HEADER_BYTES"),
])
def test_header_limit_settings_are_validated(sqlite_env: Env, variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**sqlite_env.settings.environ, variable: value})
