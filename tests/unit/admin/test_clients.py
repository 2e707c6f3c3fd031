"""Clients: register (the secret once), list (pages), read, change, rotate the secret, disable; on both
backends. Registration rules refuse with 422 naming the field; state conflicts are 409."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from idp.audit import AuditEvent
from tests.unit.admin.conftest import Admin, fields_of, problem

NEW = {"client_id": "portal", "name": "Portail patient", "redirect_uris": ["https://portal.example/cb"],
       "scopes": ["openid", "profile"], "reason": "new patient portal"}


async def events(admin: Admin, tag: str) -> list[AuditEvent]:
    await admin.env.container.audit.flush()
    async with admin.env.container.db.session() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


async def client_token(admin: Admin, client_id: str, secret: str) -> int:
    response = await admin.http.post("/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    return response.status_code


async def test_register_shows_the_secret_once_and_audits(admin: Admin) -> None:
    response = await admin.post("/clients", NEW)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["client_id"] == "portal" and body["enabled"] is True
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert len(body["client_secret"]) >= 43
    assert response.headers["location"] == "/admin/api/v1/clients/portal"
    read = await admin.get("/clients/portal")
    assert read.status_code == 200 and "client_secret" not in read.json()
    assert read.json()["redirect_uris"] == ["https://portal.example/cb"]
    [event] = await events(admin, "admin:client:created")
    assert (event.actor, event.client_id, event.subject) == ("admin:ops", "ops", "portal")
    assert event.detail["reason"] == "new patient portal"


async def test_an_admin_client_registered_here_gets_admin_tokens(admin: Admin) -> None:
    response = await admin.post("/clients", {"client_id": "ops-2", "scopes": ["admin:delegations"],
                                             "grant_types": ["client_credentials"]})
    assert response.status_code == 201, response.text
    secret = response.json()["client_secret"]
    token = await admin.http.post("/token", data={"grant_type": "client_credentials"}, auth=("ops-2", secret))
    assert token.json()["scope"] == "admin:delegations"
    assert (await admin.get("/delegations", token=token.json()["access_token"])).status_code == 200


async def test_register_twice_is_a_conflict(admin: Admin) -> None:
    assert (await admin.post("/clients", NEW)).status_code == 201
    body = problem(await admin.post("/clients", NEW), "conflict", 409)
    assert "already exists" in body["detail"]


async def test_registration_errors_name_the_field(admin: Admin) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({**NEW, "redirect_uris": ["http://portal.example/cb"]}, "redirect_uris"),
        ({**NEW, "colour": "blue"}, "colour"),
        ({k: v for k, v in NEW.items() if k != "client_id"}, "client_id"),
        ({**NEW, "scopes": "openid profile"}, "scopes"),
        ({**NEW, "scopes": ["open id"]}, "scopes.0"),
        ({**NEW, "grant_types": ["implicit"]}, "grant_types.0"),
        ({**NEW, "auth_method": "none", "grant_types": ["client_credentials"]}, "grant_types"),
        ({**NEW, "auth_method": "private_key_jwt"}, "jwks"),
        ({**NEW, "auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "nope"}]}}, "jwks"),
        ({**NEW, "client_id": "../x"}, "client_id"),
        ({**NEW, "reason": "   "}, "reason"),
        ({**NEW, "first_party": "yes"}, "first_party"),
    ]
    for body, field in cases:
        response = await admin.post("/clients", body)
        found = problem(response, "validation", 422)
        assert field in fields_of(found), (body, found)
    assert (await admin.get("/clients/portal")).status_code == 404


async def test_list_pages_through_every_client_once(admin: Admin) -> None:
    for n in range(7):
        assert (await admin.post("/clients", {**NEW, "client_id": f"c{n}"})).status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await admin.get("/clients", params=params)).json()
        seen += [item["client_id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
        # A client registered mid-walk before the cursor's position does not shift the pages.
        await admin.env.add_client(f"a{len(seen)}", scopes="openid")
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert {f"c{n}" for n in range(7)} | {"ops"} <= set(seen)


async def test_a_forged_cursor_is_refused(admin: Admin) -> None:
    for cursor in ("garbage", "eyJhIjoxfQ.AAAA", "W10.W10"):
        body = problem(await admin.get("/clients", params={"cursor": cursor}), "validation", 422)
        assert fields_of(body) == {"cursor"}
    audit_cursor = (await admin.get("/audit", params={"limit": 1})).json()["next_cursor"]
    body = problem(await admin.get("/clients", params={"cursor": audit_cursor}), "validation", 422)
    assert fields_of(body) == {"cursor"}


async def test_read_an_unknown_client_is_404(admin: Admin) -> None:
    problem(await admin.get("/clients/nobody"), "not-found", 404)
    problem(await admin.get("/clients/-bad-start"), "not-found", 404)


async def test_patch_changes_only_what_is_sent(admin: Admin) -> None:
    assert (await admin.post("/clients", NEW)).status_code == 201
    response = await admin.patch("/clients/portal", {"scopes": ["openid"], "name": "Portail",
                                                     "redirect_uris": ["https://portal.example/cb2"],
                                                     "reason": "narrower"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scopes"] == ["openid"] and body["name"] == "Portail" and body["client_secret"] is None
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    [event] = await events(admin, "admin:client:updated")
    assert event.detail["changed"] == ["name", "redirect_uris", "scopes"] and event.detail["reason"] == "narrower"


async def test_patch_to_a_secret_method_generates_one(admin: Admin) -> None:
    created = await admin.post("/clients", {**NEW, "auth_method": "none"})
    assert created.json()["client_secret"] is None
    response = await admin.patch("/clients/portal", {"auth_method": "client_secret_post"})
    assert response.status_code == 200, response.text
    assert len(response.json()["client_secret"]) >= 43


async def test_patch_refusals(admin: Admin) -> None:
    problem(await admin.patch("/clients/nobody", {"name": "x"}), "not-found", 404)
    assert (await admin.post("/clients", NEW)).status_code == 201
    cases = [({"scopes": None}, "scopes"), ({"grant_types": ["client_credentials"], "auth_method": "none"},
                                             "grant_types"),
             ({"auth_method": "private_key_jwt"}, "jwks"), ({"client_id": "other"}, "client_id"),
             ({"redirect_uris": []}, "redirect_uris"), ({"admin_structure": ""}, "admin_structure")]
    for body, field in cases:
        assert field in fields_of(problem(await admin.patch("/clients/portal", body), "validation", 422)), body
    cleared = await admin.patch("/clients/portal", {"admin_structure": "S1"})
    assert cleared.json()["admin_structure"] == "S1"
    cleared = await admin.patch("/clients/portal", {"admin_structure": None})
    assert cleared.json()["admin_structure"] is None


async def test_rotate_the_secret(admin: Admin) -> None:
    created = await admin.post("/clients", {**NEW, "client_id": "svc", "grant_types": ["client_credentials"]})
    old = created.json()["client_secret"]
    assert await client_token(admin, "svc", old) == 200
    response = await admin.post("/clients/svc/secret", {"reason": "leaked in a log"})
    assert response.status_code == 200, response.text
    new = response.json()["client_secret"]
    assert new != old and await client_token(admin, "svc", new) == 200
    assert await client_token(admin, "svc", old) == 401
    assert (await admin.post("/clients/svc/secret")).status_code == 200  # the reason is optional
    problem(await admin.post("/clients/nobody/secret", {}), "not-found", 404)
    assert (await admin.post("/clients", {**NEW, "client_id": "spa", "auth_method": "none"})).status_code == 201
    body = problem(await admin.post("/clients/spa/secret", {}), "conflict", 409)
    assert "no secret" in body["detail"]
    assert "reason" in fields_of(problem(await admin.post("/clients/svc/secret", {"reason": 7}), "validation", 422))


async def test_disable(admin: Admin) -> None:
    created = await admin.post("/clients", {**NEW, "client_id": "svc", "grant_types": ["client_credentials"]})
    secret = created.json()["client_secret"]
    response = await admin.post("/clients/svc/disable", {"reason": "contract ended"})
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert await client_token(admin, "svc", secret) == 401
    problem(await admin.post("/clients/svc/disable", {}), "conflict", 409)
    problem(await admin.post("/clients/nobody/disable", {}), "not-found", 404)
    assert "foo" in fields_of(problem(await admin.post("/clients/svc/disable", {"foo": 1}), "validation", 422))
    [event] = await events(admin, "admin:client:disabled")
    assert event.detail["reason"] == "contract ended" and event.subject == "svc"


async def test_an_admin_client_cannot_change_or_disable_itself(admin: Admin) -> None:
    problem(await admin.patch("/clients/ops", {"scopes": []}), "conflict", 409)
    problem(await admin.post("/clients/ops/disable", {}), "conflict", 409)
    assert (await admin.get("/clients/ops")).json()["enabled"] is True
    rotated = await admin.post("/clients/ops/secret", {"reason": "routine"})  # its current token keeps working
    assert rotated.status_code == 200 and (await admin.get("/clients/ops")).status_code == 200
