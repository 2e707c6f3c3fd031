"""Malformed requests end in RFC 9457 problems, never a 500: body limits (413), media types (415), broken JSON
and unknown fields (422 naming the field), wrong methods (405 with Allow), unknown routes (404)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from idp.app import create_app
from idp.oidc.minting import issue_access_token
from tests.conftest import ISSUER, free_port, make_settings
from tests.unit.admin.conftest import API, Admin, fields_of, problem


async def test_a_body_over_the_admin_limit_is_413(sqlite_admin: Admin) -> None:
    big = {"reason": "x" * 40_000}
    body = problem(await sqlite_admin.post("/keys/rotate", big), "too-large", 413)
    assert "32768" in body["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"reason": "'
        for _ in range(40):
            yield b"y" * 1000
        yield b'"}'

    chunked = await sqlite_admin.call("POST", "/keys/rotate", content=chunks(),
                                      headers={"content-type": "application/json"})
    problem(chunked, "too-large", 413)
    assert len((await sqlite_admin.get("/keys")).json()["items"]) == 1


async def test_a_body_over_the_global_limit_is_a_413_problem_too(sqlite_admin: Admin) -> None:
    """Above MANDAT_MAX_BODY_BYTES the server-wide limit answers before the API reads anything: still a problem."""
    big = {"reason": "x" * 200_000}
    body = problem(await sqlite_admin.post("/keys/rotate", big), "too-large", 413)
    assert "limited to" in body["detail"]
    assert len((await sqlite_admin.get("/keys")).json()["items"]) == 1


async def test_bodies_must_be_json_objects(sqlite_admin: Admin) -> None:
    response = await sqlite_admin.call("POST", "/keys/rotate", content=b"reason=x",
                                       headers={"content-type": "application/x-www-form-urlencoded"})
    problem(response, "unsupported-media-type", 415)
    for raw in (b"{", b"[]", b'"x"', b"\xff\xfe", b'{"reason": "a"} trailing', b"null"):
        response = await sqlite_admin.call("POST", "/keys/rotate", content=raw,
                                           headers={"content-type": "application/json"})
        assert fields_of(problem(response, "validation", 422)) == {"body"}, raw
    nested = b'{"client_id": "x", "jwks": ' + b'{"a": ' * 4000 + b"1" + b"}" * 4000 + b"}"
    response = await sqlite_admin.call("POST", "/clients", content=nested,
                                       headers={"content-type": "application/json"})
    assert fields_of(problem(response, "validation", 422)) == {"body"}
    ok = await sqlite_admin.call("POST", "/keys/rotate", content=b'{"activation_delay": 5}',
                                 headers={"content-type": "application/merge-patch+json"})
    assert ok.status_code == 201


async def test_each_invalid_field_is_named(sqlite_admin: Admin) -> None:
    response = await sqlite_admin.post("/clients", {"client_id": "", "scopes": [1], "redirect_uris": "x",
                                                    "colour": "blue"})
    body = problem(response, "validation", 422)
    assert fields_of(body) >= {"client_id", "scopes.0", "redirect_uris", "colour"}
    assert all(error["message"] for error in body["errors"])


async def test_wrong_method_is_405_with_allow(sqlite_admin: Admin) -> None:
    response = await sqlite_admin.call("DELETE", "/clients")
    problem(response, "method-not-allowed", 405)
    assert response.headers["allow"] == "GET, POST"
    response = await sqlite_admin.call("PUT", "/clients/ops")
    assert problem(response, "method-not-allowed", 405)["detail"].endswith("GET, PATCH")


async def test_unknown_routes_are_problems(sqlite_admin: Admin) -> None:
    for path in (f"{API}/nothing", f"{API}/clients/ops/else", API, f"{API}/"):
        response = await sqlite_admin.http.get(path)
        problem(response, "not-found", 404)


async def test_the_openapi_document_needs_no_token(sqlite_admin: Admin) -> None:
    response = await sqlite_admin.http.get(f"{API}/openapi.json")
    assert response.status_code == 200
    schemas = response.json()["components"]["schemas"]
    for name in ("ClientCreate", "ClientUpdate", "DelegationCreate", "Reason", "KeyRotate"):
        assert schemas[name]["additionalProperties"] is False, name


async def test_an_unreachable_store_is_a_503_problem(tmp_path: Path, sqlite_template: Path) -> None:
    db = tmp_path / "m.db"
    shutil.copy(sqlite_template, db)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db}", dead)
    app = create_app(settings)
    container = app.state.container
    created = await container.clients.register(client_id="ops", redirect_uris=[], scopes=["admin:keys"],
                                               grant_types=["client_credentials"])
    token, _ttl = issue_access_token(container.provider, created.client, subject="ops", scopes=["admin:keys"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            response = await http.get(f"{API}/keys", headers={"authorization": f"Bearer {token}"})
    problem(response, "unavailable", 503)
    assert response.headers["retry-after"] == str(settings.retry_after_seconds)
