"""Every route: the exact paths the issue names, 401 without or with a bad token (WWW-Authenticate: Bearer), 403
naming the scope with another admin scope; revoked, expired, person and disabled-client tokens are refused."""

from __future__ import annotations

import time

import pytest

from idp.admin.api import Operation
from idp.admin.views import OPERATIONS
from tests.unit.admin.conftest import API, Admin, problem

ROUTES = {
    ("GET", "/clients"), ("POST", "/clients"), ("GET", "/clients/{client_id}"), ("PATCH", "/clients/{client_id}"),
    ("POST", "/clients/{client_id}/secret"), ("POST", "/clients/{client_id}/disable"),
    ("GET", "/accounts"), ("GET", "/accounts/{account_id}"), ("POST", "/accounts/{account_id}/lock"),
    ("POST", "/accounts/{account_id}/unlock"), ("GET", "/accounts/{account_id}/credentials"),
    ("POST", "/accounts/{account_id}/sessions/revoke"),
    ("POST", "/delegations"), ("GET", "/delegations"), ("GET", "/delegations/{delegation_id}"),
    ("POST", "/delegations/{delegation_id}/revoke"),
    ("GET", "/audit"), ("GET", "/audit/export"),
    ("GET", "/keys"), ("POST", "/keys/rotate"),
}


def concrete(operation: Operation) -> str:
    return operation.path.format(client_id="ops", account_id="a1", delegation_id="d1")


def test_the_routes_are_exactly_the_issues() -> None:
    assert {(op.method, op.path) for op in OPERATIONS} == ROUTES


async def test_the_openapi_document_lists_every_route(sqlite_admin: Admin) -> None:
    document = (await sqlite_admin.http.get(f"{API}/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    listed = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert listed == ROUTES
    for operation in OPERATIONS:
        entry = document["paths"][operation.path][operation.method.lower()]
        assert entry["security"] == [{"admin": [operation.scope]}]
        assert {"401", "403", "422"} <= set(entry["responses"])


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
async def test_no_token_is_401_with_a_bearer_challenge(sqlite_admin: Admin, operation: Operation) -> None:
    response = await sqlite_admin.http.request(operation.method, API + concrete(operation), json={})
    problem(response, "unauthorized", 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="mandat-admin"'


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
async def test_a_bad_token_is_401_invalid_token(sqlite_admin: Admin, operation: Operation) -> None:
    for header in ("Bearer not-a-jwt", "Basic b3BzOnNlY3JldA==", "Bearer ", "Bearer a.b.c"):
        response = await sqlite_admin.http.request(operation.method, API + concrete(operation), json={},
                                                   headers={"authorization": header})
        problem(response, "unauthorized", 401)
        assert response.headers["www-authenticate"].startswith('Bearer realm="mandat-admin", error="invalid_token"')


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
async def test_another_scope_is_403_naming_the_route_scope(sqlite_admin: Admin, operation: Operation) -> None:
    other = "admin:keys" if operation.scope != "admin:keys" else "admin:clients"
    token = await sqlite_admin.client("narrow", scopes=other)
    response = await sqlite_admin.call(operation.method, concrete(operation), token=token, json={})
    body = problem(response, "forbidden", 403)
    assert body["scope"] == operation.scope and operation.scope in body["detail"]
    assert f'scope="{operation.scope}"' in response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_a_revoked_token_is_refused(admin: Admin) -> None:
    token = await admin.client()
    assert (await admin.get("/keys", token=token)).status_code == 200
    revoked = await admin.http.post("/token/revoke", data={"token": token}, auth=admin.env.auth("ops"))
    assert revoked.status_code == 200
    body = problem(await admin.get("/keys", token=token), "unauthorized", 401)
    assert "revoked" in body["detail"]


async def test_an_expired_token_is_refused(admin: Admin) -> None:
    provider = admin.env.container.provider
    real_clock = provider.clock
    provider.clock = lambda: real_clock() - 2 * admin.env.settings.access_token_ttl
    try:
        token = await admin.client()
    finally:
        provider.clock = real_clock
    body = problem(await admin.get("/keys", token=token), "unauthorized", 401)
    assert "expired" in body["detail"]


async def test_a_persons_token_never_administers(sqlite_admin: Admin) -> None:
    env = sqlite_admin.env  # a portal allowed admin:accounts still gets a token about a person, not itself
    await env.add_client("portal", scopes="openid admin:accounts")
    await env.add_account()
    tokens = await env.tokens_for("portal", scope="openid admin:accounts")
    assert tokens["access_token"]
    response = await sqlite_admin.get("/accounts", token=tokens["access_token"])
    body = problem(response, "unauthorized", 401)
    assert "client_credentials" in body["detail"]


async def test_a_disabled_client_loses_access_at_once(admin: Admin) -> None:
    token = await admin.client("second")
    assert (await admin.get("/clients", token=token)).status_code == 200
    assert (await admin.post("/clients/second/disable", {"reason": "offboarded"})).status_code == 200
    problem(await admin.get("/clients", token=token), "unauthorized", 401)


async def test_a_scope_taken_from_the_client_stops_its_tokens(admin: Admin) -> None:
    token = await admin.client("second")
    changed = await admin.patch("/clients/second", {"scopes": ["admin:keys"], "reason": "least privilege"})
    assert changed.status_code == 200, changed.text
    problem(await admin.get("/clients", token=token), "forbidden", 403)
    assert (await admin.get("/keys", token=token)).status_code == 200


async def test_the_token_must_still_be_valid_after_time_passes(sqlite_admin: Admin) -> None:
    token = await sqlite_admin.client()
    provider = sqlite_admin.env.container.provider
    real_clock = provider.clock
    provider.clock = lambda: time.time() + sqlite_admin.env.settings.access_token_ttl + 1
    try:
        problem(await sqlite_admin.get("/keys", token=token), "unauthorized", 401)
    finally:
        provider.clock = real_clock
