"""Signing keys: list them with their state, rotate (pre-published by default, or at once), audited."""

from __future__ import annotations

from tests.unit.admin.conftest import Admin, fields_of, problem


async def test_list_and_rotate(admin: Admin) -> None:
    [first] = (await admin.get("/keys")).json()["items"]
    assert first["state"] == "active" and first["alg"] == "ES256" and "d" not in first["public_jwk"]
    pending = await admin.post("/keys/rotate")
    assert pending.status_code == 201, pending.text
    assert pending.json()["state"] == ("pending" if admin.env.settings.key_activation_delay else "active")
    now = await admin.post("/keys/rotate", {"activation_delay": 0, "reason": "compromised host"})
    assert now.json()["state"] == "active"
    keys = {k["kid"]: k["state"] for k in (await admin.get("/keys")).json()["items"]}
    assert keys[now.json()["kid"]] == "active" and keys[first["kid"]] == "published" and len(keys) == 3
    jwks = (await admin.http.get("/jwks")).json()
    assert now.json()["kid"] in {k["kid"] for k in jwks["keys"]}
    events = (await admin.get("/audit", params={"type": "admin:keys:rotated"})).json()["items"]
    assert [e["subject"] for e in events] == [now.json()["kid"], pending.json()["kid"]]
    assert events[0]["detail"]["reason"] == "compromised host"


async def test_rotate_refusals(admin: Admin) -> None:
    for body, field in (({"activation_delay": -1}, "activation_delay"), ({"activation_delay": "5"},
                                                                         "activation_delay"),
                        ({"activation_delay": 10**9}, "activation_delay"), ({"alg": "RS256"}, "alg")):
        assert field in fields_of(problem(await admin.post("/keys/rotate", body), "validation", 422)), body
    assert len((await admin.get("/keys")).json()["items"]) == 1
