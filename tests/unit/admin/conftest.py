"""Admin API fixtures: an app on both backends (tests/conftest.py `env`), admin clients with chosen scopes and
their client_credentials tokens, and people to administer (citizens, a professional with a structure, staff)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from idp.accounts.models import Account
from idp.cards.models import Professional, ProfessionalActivity, ProfessionalExercise
from tests.conftest import Env

API = "/admin/api/v1"
ALL_SCOPES = "admin:clients admin:accounts admin:delegations admin:audit admin:keys"
STRUCTURE = "S-CABINET-1"
OTHER_STRUCTURE = "S-CLINIQUE-2"


class Admin:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.tokens: dict[str, str] = {}

    @property
    def http(self) -> httpx.AsyncClient:
        return self.env.http

    async def client(self, client_id: str = "ops", scopes: str = ALL_SCOPES, **kwargs: Any) -> str:
        """Register an admin client (client_credentials) and return a fresh access token for it."""
        if client_id not in self.env.clients:
            await self.env.add_client(client_id, redirect_uris=[], scopes=scopes,
                                      grant_types=("client_credentials",), **kwargs)
        response = await self.http.post("/token", data={"grant_type": "client_credentials", "scope": scopes},
                                        auth=self.env.auth(client_id))
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        self.tokens[client_id] = token
        return token

    async def call(self, method: str, path: str, *, token: str | None = None, as_client: str = "ops",
                   **kwargs: Any) -> httpx.Response:
        if token is None:
            token = self.tokens.get(as_client) or await self.client(as_client)
        headers = {"authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return await self.http.request(method, API + path, headers=headers, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.call("POST", path, json=json, **kwargs)

    async def patch(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.call("PATCH", path, json=json, **kwargs)

    # --- people -------------------------------------------------------------------------------------------------
    async def account(self, username: str, kind: str = "citizen", **fields: Any) -> str:
        account = Account(username=username, kind=kind, password_hash=fields.pop("password_hash", "x"),
                          given_name=fields.pop("given_name", username.title()), **fields)
        async with self.env.container.db.transaction() as session:
            session.add(account)
        return account.id

    async def professional(self, username: str, national_id: str, structures: list[str]) -> str:
        async with self.env.container.db.transaction() as session:
            session.add(Professional(national_id=national_id, id_type="8", rpps=national_id[1:]))
            await session.flush()
            exercise = ProfessionalExercise(national_id=national_id, code_profession="10")
            session.add(exercise)
            await session.flush()
            for position, structure in enumerate(structures):
                session.add(ProfessionalActivity(exercise_id=exercise.id, position=position,
                                                 identifiant_technique_structure=structure))
        return await self.account(username, "professional", national_id=national_id)


def problem(response: httpx.Response, kind: str, status: int) -> dict[str, Any]:
    """Assert `response` is the RFC 9457 problem `kind` with `status`; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:mandat:problem:{kind}", body
    assert body["status"] == status and body["title"] and body["detail"], body
    return body


def fields_of(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body.get("errors", [])}


@pytest.fixture
async def admin(env: Env) -> AsyncIterator[Admin]:
    yield Admin(env)


@pytest.fixture
async def sqlite_admin(sqlite_env: Env) -> AsyncIterator[Admin]:
    yield Admin(sqlite_env)
