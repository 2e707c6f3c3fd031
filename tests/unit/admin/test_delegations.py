"""Delegations: create under the same policy as self-service and the CLI (refusals name the rule), list with
filters and pages, read, revoke with a reason; a structure-scoped administrator sees and manages only its
structure's assistant delegations. Both backends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from idp.audit import AuditEvent
from idp.delegation.models import Delegation
from tests.unit.admin.conftest import OTHER_STRUCTURE, STRUCTURE, Admin, fields_of, problem


async def cast(admin: Admin) -> dict[str, str]:
    return {
        "dr": await admin.professional("dr.house", "810001234567", [STRUCTURE, OTHER_STRUCTURE]),
        "staff": await admin.account("secretariat", "staff"),
        "staff2": await admin.account("accueil", "staff"),
        "citizen": await admin.account("jeanne"),
        "friend": await admin.account("marc"),
    }


def assistant(ids: dict[str, str], **overrides: Any) -> dict[str, Any]:
    return {"kind": "assistant", "principal_id": ids["dr"], "delegate_id": ids["staff"],
            "scopes": ["mssante.read", "appointments.manage"], "context": STRUCTURE,
            "reason": "new medical secretary", **overrides}


async def test_create_list_read_revoke(admin: Admin) -> None:
    ids = await cast(admin)
    created = await admin.post("/delegations", assistant(ids))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "active" and body["source"] == "admin" and body["created_by"] == "admin:ops"
    assert body["context"] == STRUCTURE and body["reason"] == "new medical secretary"
    assert created.headers["location"] == f"/admin/api/v1/delegations/{body['id']}"
    read = await admin.get(f"/delegations/{body['id']}")
    assert read.json() == body
    listed = (await admin.get("/delegations", params={"principal_id": ids["dr"], "status": "active"})).json()
    assert [d["id"] for d in listed["items"]] == [body["id"]] and listed["next_cursor"] is None
    assert (await admin.get("/delegations", params={"kind": "proxy"})).json()["items"] == []
    revoked = await admin.post(f"/delegations/{body['id']}/revoke", {"reason": "left the practice"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revocation_reason"] == "left the practice"
    assert revoked.json()["revoked_by"] == "admin:ops"
    await admin.env.container.audit.flush()
    async with admin.env.container.db.session() as session:
        tags = [(e.tag, e.actor, e.detail.get("reason")) for e in await session.scalars(
            select(AuditEvent).where(AuditEvent.tag.contains("delegation")).order_by(AuditEvent.id))]
    # The domain's own events may be written with its transaction, before the queued admin ones: no order here.
    assert sorted(tags, key=str) == sorted([("delegation:created", "admin:ops", None),
                                            ("admin:delegation:created", "admin:ops", "new medical secretary"),
                                            ("delegation:revoked", "admin:ops", "left the practice"),
                                            ("admin:delegation:revoked", "admin:ops", "left the practice")], key=str)


async def test_policy_refusals_name_the_rule(admin: Admin) -> None:
    ids = await cast(admin)
    cases = [
        (assistant(ids, context="S-NOT-THEIRS"), "structure_not_theirs"),
        (assistant(ids, scopes=["prescription.sign"]), "scope_not_delegable"),
        (assistant(ids, delegate_id=ids["dr"]), "self_delegation"),
        (assistant(ids, context=None), "context_required"),
        (assistant(ids, principal_id=ids["citizen"]), "not_a_professional"),
        ({**assistant(ids), "kind": "proxy", "principal_id": ids["dr"], "delegate_id": ids["friend"],
          "scopes": ["openid"], "context": None}, "principal_not_citizen"),
        ({**assistant(ids), "kind": "guardian", "principal_id": ids["citizen"], "delegate_id": ids["friend"],
          "scopes": ["openid"], "context": None}, "guardian_needs_registry_link"),
        (assistant(ids, valid_until="2300-01-01T00:00:00Z"), "duration_too_long"),
        (assistant(ids, valid_from="2030-01-02T00:00:00Z", valid_until="2030-01-01T00:00:00Z"), "invalid_period"),
    ]
    for body, rule in cases:
        found = problem(await admin.post("/delegations", body), "policy-refused", 422)
        assert found["rule"] == rule, (rule, found)
    async with admin.env.container.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Delegation)) == 0


async def test_create_validation_names_the_field(admin: Admin) -> None:
    ids = await cast(admin)
    cases: list[tuple[dict[str, Any], str]] = [
        ({k: v for k, v in assistant(ids).items() if k != "reason"}, "reason"),
        (assistant(ids, kind="boss"), "kind"),
        (assistant(ids, scopes=[]), "scopes"),
        (assistant(ids, valid_until="2030-01-01T00:00:00"), "valid_until"),  # no time zone
        (assistant(ids, valid_until="9999-12-31T23:59:59+14:00"), "valid_until"),
        (assistant(ids, principal_id="f" * 32), "principal_id"),
        (assistant(ids, delegate_id="f" * 32), "delegate_id"),
        (assistant(ids, delegate_id="no spaces allowed"), "delegate_id"),
        (assistant(ids, status="active"), "status"),
    ]
    for body, field in cases:
        assert field in fields_of(problem(await admin.post("/delegations", body), "validation", 422)), body


async def test_read_and_revoke_unknown_or_ended(admin: Admin) -> None:
    ids = await cast(admin)
    problem(await admin.get(f"/delegations/{'0' * 32}"), "not-found", 404)
    problem(await admin.post(f"/delegations/{'0' * 32}/revoke", {"reason": "x"}), "not-found", 404)
    created = (await admin.post("/delegations", assistant(ids))).json()
    assert fields_of(problem(await admin.post(f"/delegations/{created['id']}/revoke", {}), "validation", 422)) \
        == {"reason"}
    assert (await admin.post(f"/delegations/{created['id']}/revoke", {"reason": "x"})).status_code == 200
    found = problem(await admin.post(f"/delegations/{created['id']}/revoke", {"reason": "x"}), "conflict", 409)
    assert found["rule"] == "delegation_not_active"


async def test_list_filters_and_pages(admin: Admin) -> None:
    ids = await cast(admin)
    made = []
    for n in range(5):
        delegate = await admin.account(f"staff{n}", "staff")
        response = await admin.post("/delegations", assistant(ids, delegate_id=delegate))
        made.append(response.json()["id"])
    proxy = await admin.post("/delegations", {"kind": "proxy", "principal_id": ids["citizen"],
                                              "delegate_id": ids["friend"], "scopes": ["openid"],
                                              "reason": "signed paper form"})
    assert proxy.status_code == 201, proxy.text
    seen: list[str] = []
    params: dict[str, Any] = {"kind": "assistant", "limit": 2}
    while True:
        page = (await admin.get("/delegations", params=params)).json()
        seen += [d["id"] for d in page["items"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == made
    assert [d["id"] for d in (await admin.get("/delegations", params={"delegate_id": ids["friend"]})).json()
            ["items"]] == [proxy.json()["id"]]
    for params, field in (({"status": "gone"}, "status"), ({"kind": "boss"}, "kind"),
                          ({"principal_id": "a b"}, "principal_id")):
        assert field in fields_of(problem(await admin.get("/delegations", params=params), "validation", 422))


async def test_a_structure_scoped_administrator(admin: Admin) -> None:
    ids = await cast(admin)
    mine = (await admin.post("/delegations", assistant(ids))).json()
    theirs = (await admin.post("/delegations", assistant(ids, context=OTHER_STRUCTURE,
                                                         delegate_id=ids["staff2"]))).json()
    proxy = (await admin.post("/delegations", {"kind": "proxy", "principal_id": ids["citizen"],
                                               "delegate_id": ids["friend"], "scopes": ["openid"],
                                               "reason": "form"})).json()
    token = await admin.client("cabinet", scopes="admin:delegations", admin_structure=STRUCTURE)
    listed = (await admin.get("/delegations", token=token)).json()["items"]
    assert [d["id"] for d in listed] == [mine["id"]]
    assert (await admin.get("/delegations", token=token, params={"kind": "proxy"})).json()["items"] == []
    assert (await admin.get(f"/delegations/{mine['id']}", token=token)).status_code == 200
    for other in (theirs, proxy):
        problem(await admin.get(f"/delegations/{other['id']}", token=token), "not-found", 404)
        problem(await admin.post(f"/delegations/{other['id']}/revoke", {"reason": "x"}, token=token),
                "not-found", 404)
    refused = await admin.post("/delegations", assistant(ids, context=OTHER_STRUCTURE), token=token)
    assert STRUCTURE in problem(refused, "forbidden", 403)["detail"]
    refused = await admin.post("/delegations", {"kind": "proxy", "principal_id": ids["citizen"],
                                                "delegate_id": ids["staff"], "scopes": ["openid"],
                                                "reason": "x"}, token=token)
    problem(refused, "forbidden", 403)
    await admin.post(f"/delegations/{mine['id']}/revoke", {"reason": "x"}, token=token)
    created = await admin.post("/delegations", assistant(ids, delegate_id=ids["staff2"]), token=token)
    assert created.status_code == 201 and created.json()["created_by"] == "admin:cabinet"
    assert (await admin.post(f"/delegations/{mine['id']}/revoke", {"reason": "y"}, token=token)).status_code == 409
