"""Shared fixtures: a provider on SQLite + memory and on PostgreSQL + Redis, with an httpx client bound to it.

`MANDAT_CI=1` turns "server not available" skips into failures.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from idp.app import create_app
from idp.container import Container
from idp.migrations import upgrade
from idp.settings import Settings
from idp.store import EphemeralStore, MemoryStore, RedisStore

# Shared helper modules imported across test packages keep pytest's assertion rewriting.
pytest.register_assert_rewrite("tests.unit.oidc.flows")

CI = os.environ.get("MANDAT_CI") == "1"
POSTGRES_ADMIN_URL = os.environ.get("MANDAT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MANDAT_TEST_REDIS", "redis://127.0.0.1:6379/15")
ISSUER = "http://localhost:8000"
REDIRECT = "https://rp.example/cb"
PASSWORD = "correct-horse-battery-staple"


def unavailable(reason: str) -> None:
    """Skip with a reason on a developer machine; fail in CI, where nothing may skip."""
    if CI:
        pytest.fail(f"required component missing in CI: {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def in_thread(fn: Any, *args: Any) -> Any:
    """Run blocking setup (its own event loop, e.g. Alembic) even when called from inside a running loop."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- databases ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file (much faster than migrating per test)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    parts = urlsplit(POSTGRES_ADMIN_URL)
    if not port_open(parts.hostname or "127.0.0.1", parts.port or 5432):
        unavailable(f"PostgreSQL is not reachable at {parts.hostname}:{parts.port}")
    import asyncpg

    name = f"mandat_test_{os.getpid()}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    in_thread(asyncio.run, admin(f'DROP DATABASE IF EXISTS "{name}"'))
    in_thread(asyncio.run, admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://{parts.netloc}/{name}"
    in_thread(upgrade, url)
    yield url
    in_thread(asyncio.run, admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def truncate_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        if tables:
            await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    finally:
        await conn.close()


# --- the provider under test ------------------------------------------------------------------------------------

def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def form_field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field in page"
    return match.group(1)


@dataclass
class Env:
    backend: str
    settings: Settings
    app: Starlette
    http: httpx.AsyncClient
    store: EphemeralStore
    clients: dict[str, str] = field(default_factory=dict)

    @property
    def container(self) -> Container:
        container: Container = self.app.state.container
        return container

    async def add_client(self, client_id: str = "rp", *, auth_method: str = "client_secret_basic",
                         redirect_uris: list[str] | None = None, scopes: str = "openid profile email offline_access",
                         grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
                         **kwargs: Any) -> str | None:
        created = await self.container.clients.register(
            client_id=client_id, redirect_uris=redirect_uris if redirect_uris is not None else [REDIRECT],
            scopes=scopes.split(), auth_method=auth_method, grant_types=grant_types, **kwargs)
        if created.secret:
            self.clients[client_id] = created.secret
        return created.secret

    async def add_account(self, username: str = "alice", password: str = PASSWORD, **kwargs: Any) -> str:
        account = await self.container.accounts.create(username=username, password=password, given_name="Alice",
                                                       family_name="Martin", email=f"{username}@example.org",
                                                       **kwargs)
        return account.id

    def auth(self, client_id: str = "rp") -> tuple[str, str]:
        return client_id, self.clients[client_id]

    def authorize_params(self, client_id: str = "rp", **overrides: Any) -> dict[str, str]:
        verifier, challenge = pkce_pair()
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                  "scope": "openid profile email", "state": "st-123", "nonce": "n-456",
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        params.update(overrides)
        params = {k: v for k, v in params.items() if v is not None}
        self.last_verifier = verifier
        return params

    async def login(self, response: httpx.Response, username: str = "alice",
                    password: str = PASSWORD) -> httpx.Response:
        """From a redirect to /interaction/{uid}: post the login form; returns the 303 after login."""
        page = await self.http.get(response.headers["location"])
        assert page.status_code == 200, page.text
        action = re.search(r'action="(/interaction/[^"]+/login)"', page.text)
        assert action, page.text
        return await self.http.post(action.group(1), data={
            "csrf_token": form_field(page.text, "csrf_token"), "username": username, "password": password})

    async def consent(self, location: str, decision: str = "allow") -> httpx.Response:
        page = await self.http.get(location)
        if page.status_code in (302, 303):
            return page
        action = re.search(r'action="(/interaction/[^"]+/consent)"', page.text)
        assert action, page.text
        return await self.http.post(action.group(1), data={
            "csrf_token": form_field(page.text, "csrf_token"), "decision": decision})

    async def get_code(self, client_id: str = "rp", username: str = "alice", **overrides: Any) -> tuple[str, str]:
        """Run authorize → login → consent; returns (code, verifier)."""
        params = self.authorize_params(client_id, **overrides)
        verifier = self.last_verifier
        response = await self.http.get("/authorize", params=params)
        if response.headers.get("location", "").startswith("/interaction/"):
            response = await self.login(response, username=username)
            assert response.status_code == 303, response.text
            response = await self.consent(response.headers["location"])
        location = response.headers["location"]
        query = parse_qs(urlsplit(location).query)
        assert "code" in query, location
        return query["code"][0], verifier

    async def token(self, data: dict[str, str], *, client_id: str = "rp", basic: bool = True) -> httpx.Response:
        auth = self.auth(client_id) if basic and client_id in self.clients else None
        return await self.http.post("/token", data=data, auth=auth)

    async def tokens_for(self, client_id: str = "rp", **overrides: Any) -> dict[str, Any]:
        code, verifier = await self.get_code(client_id, **overrides)
        response = await self.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                     "code_verifier": verifier}, client_id=client_id)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def make_settings(tmp_path: Path, database_url: str, redis_url: str | None = None, **extra: str) -> Settings:
    env = {
        "MANDAT_ISSUER": ISSUER, "MANDAT_DATABASE_URL": database_url, "MANDAT_KEYS_DIR": str(tmp_path / "keys"),
        "MANDAT_ARGON2_TIME_COST": "1", "MANDAT_ARGON2_MEMORY_KIB": "1024", "MANDAT_ARGON2_PARALLELISM": "1",
        "MANDAT_CLIENT_CACHE_SECONDS": "0",
    }
    if redis_url:
        env["MANDAT_REDIS_URL"] = redis_url
    env.update(extra)
    return Settings.from_env(env)


BACKENDS = ["sqlite+memory", "postgres+redis"]


@pytest.fixture(params=BACKENDS)
async def env(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Env]:
    async for value in _env(request.param, request, tmp_path, sqlite_template):
        yield value


@pytest.fixture
async def sqlite_env(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Env]:
    """The embedded backend only: for tests about pages and behaviour that storage does not change."""
    async for value in _env("sqlite+memory", request, tmp_path, sqlite_template):
        yield value


async def _env(backend: str, request: pytest.FixtureRequest, tmp_path: Path,
               sqlite_template: Path) -> AsyncIterator[Env]:
    store: EphemeralStore
    if backend == "sqlite+memory":
        db_path = tmp_path / "mandat.db"
        shutil.copy(sqlite_template, db_path)
        settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db_path}")
        store = MemoryStore()
    else:
        url = request.getfixturevalue("postgres_url")
        redis_parts = urlsplit(REDIS_URL)
        if not port_open(redis_parts.hostname or "127.0.0.1", redis_parts.port or 6379):
            unavailable(f"Redis is not reachable at {redis_parts.hostname}:{redis_parts.port}")
        await truncate_postgres(url)
        settings = make_settings(tmp_path, url, REDIS_URL)
        store = RedisStore(REDIS_URL, prefix=f"test:{secrets.token_hex(6)}:")
    app = create_app(settings, store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER, follow_redirects=False) as http:
            yield Env(backend, settings, app, http, store)
