"""Storage faults answer 503 + Retry-After, never 500: classification, and the app against a Redis that is down.

The Redis here is a closed port on this machine (nothing listens), so the shared test Redis is never stopped;
tests/e2e/production stops a private one mid-flow.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy.exc

from idp.app import create_app
from idp.errors import StorageUnavailable
from idp.observability.faults import backend_of
from idp.redis_client import RedisError, unavailable
from idp.store import RedisStore
from tests.conftest import ISSUER, REDIRECT, free_port, make_settings


def test_which_exceptions_are_storage_faults() -> None:
    assert backend_of(unavailable(RedisError("Connection refused"))) == "redis"
    assert backend_of(StorageUnavailable("pool")) == "database"
    assert backend_of(ConnectionRefusedError(111, "refused")) == "database"
    assert backend_of(TimeoutError()) == "database"
    assert backend_of(sqlalchemy.exc.TimeoutError("pool exhausted")) == "database"
    lost = sqlalchemy.exc.DBAPIError("SELECT 1", None, Exception("closed"), connection_invalidated=True)
    assert backend_of(lost) == "database"
    # Bugs stay bugs (500): a constraint violation, a programming error.
    assert backend_of(sqlalchemy.exc.IntegrityError("INSERT", None, Exception("duplicate"))) is None
    assert backend_of(ValueError("x")) is None
    assert backend_of(FileNotFoundError("keys")) is None


def test_redis_failures_never_carry_the_url() -> None:
    error = unavailable(RedisError("Error 111 connecting"))
    assert "redis://" not in str(error) and error.status == 503


@pytest.fixture
async def down(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[httpx.AsyncClient]:
    db = tmp_path / "m.db"
    shutil.copy(sqlite_template, db)
    redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db}", redis_url, MANDAT_RETRY_AFTER_SECONDS="7")
    app = create_app(settings, store=RedisStore(redis_url, timeout=1))
    async with app.router.lifespan_context(app):
        created = await app.state.container.clients.register(
            client_id="rp", redirect_uris=[REDIRECT], scopes=["openid"], auth_method="client_secret_basic",
            grant_types=["authorization_code", "refresh_token"])
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            http.headers["x-test-secret"] = created.secret or ""
            yield http


async def test_with_redis_down_nothing_answers_500(down: httpx.AsyncClient) -> None:
    secret = down.headers.pop("x-test-secret")
    token = await down.post("/token", auth=("rp", secret), data={
        "grant_type": "authorization_code", "code": "abc", "redirect_uri": REDIRECT, "code_verifier": "v" * 43})
    assert token.status_code == 503 and token.headers["retry-after"] == "7"
    assert token.json()["error"] == "temporarily_unavailable" and token.headers["cache-control"] == "no-store"
    authorize = await down.get("/authorize", params={
        "response_type": "code", "client_id": "rp", "redirect_uri": REDIRECT, "scope": "openid", "state": "s1",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
    assert authorize.status_code == 302
    assert authorize.headers["location"].startswith(REDIRECT + "?error=temporarily_unavailable")
    assert "state=s1" in authorize.headers["location"]
    # A sign-in page whose transaction is in Redis (the browser holds its binding cookie).
    down.cookies.set("mandat_ia_some-uid", "binding")
    page = await down.get("/interaction/some-uid")
    assert page.status_code == 503 and page.headers["retry-after"] == "7"
    assert "text/html" in page.headers["content-type"]
    ready = await down.get("/readyz")
    assert ready.status_code == 503 and ready.headers["retry-after"] == "7"
    assert ready.json() == {"status": "unavailable", "checks": {"database": "ok", "redis": "down (StorageUnavailable)"}}
    assert (await down.get("/healthz")).status_code == 200
