"""Idempotency-Key on POST: a retry with the same key and body returns the first response and creates nothing
new (across processes too: the keys live in the ephemeral store); the same key with another body is a 422."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import func, select

from idp.admin.api import Admin as AdminState
from idp.app import create_app
from idp.clients.models import ClientRecord
from idp.delegation.models import Delegation
from idp.store import RedisStore
from tests.conftest import ISSUER, REDIS_URL
from tests.unit.admin.conftest import API, STRUCTURE, Admin, fields_of, problem


async def delegation_body(admin: Admin) -> dict[str, Any]:
    doctor = await admin.professional("dr.house", "810001234567", [STRUCTURE])
    staff = await admin.account("secretariat", "staff")
    return {"kind": "assistant", "principal_id": doctor, "delegate_id": staff, "scopes": ["mssante.read"],
            "context": STRUCTURE, "reason": "new secretary"}


async def count(admin: Admin, model: Any) -> int:
    async with admin.env.container.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_retried_delegation_create_makes_one_delegation(admin: Admin) -> None:
    body = await delegation_body(admin)
    key = {"Idempotency-Key": "8e03978e-40d5-43e8-bc93-6894a57f9324"}
    first = await admin.post("/delegations", body, headers=key)
    assert first.status_code == 201, first.text
    again = await admin.post("/delegations", {**body}, headers=key)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert again.headers["location"] == first.headers["location"]
    assert await count(admin, Delegation) == 1
    # Key order and spacing are not a different body.
    reordered = await admin.call("POST", "/delegations", headers={**key, "content-type": "application/json"},
                                 content=json.dumps(dict(reversed(list(body.items()))), indent=2))
    assert reordered.status_code == 201 and reordered.json()["id"] == first.json()["id"]
    changed = await admin.post("/delegations", {**body, "reason": "another reason"}, headers=key)
    assert fields_of(problem(changed, "validation", 422)) == {"Idempotency-Key"}
    elsewhere = await admin.post("/keys/rotate", {}, headers=key)
    assert fields_of(problem(elsewhere, "validation", 422)) == {"Idempotency-Key"}
    assert await count(admin, Delegation) == 1
    # Without a key, the same body is a new request (and the policy allows a second identical delegation).
    assert (await admin.post("/delegations", body)).status_code == 201
    assert await count(admin, Delegation) == 2


async def test_concurrent_retries_make_one_delegation(admin: Admin) -> None:
    body = await delegation_body(admin)
    token = await admin.client()
    responses = await asyncio.gather(*(admin.post("/delegations", body, token=token,
                                                  headers={"Idempotency-Key": "same"}) for _ in range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409} and 201 in statuses, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 1
    assert await count(admin, Delegation) == 1


async def test_the_secret_of_a_replayed_registration_is_the_first_and_stored_sealed(admin: Admin) -> None:
    new = {"client_id": "svc", "scopes": ["admin:audit"], "grant_types": ["client_credentials"]}
    first = await admin.post("/clients", new, headers={"Idempotency-Key": "create-svc"})
    again = await admin.post("/clients", new, headers={"Idempotency-Key": "create-svc"})
    assert first.status_code == again.status_code == 201
    secret = first.json()["client_secret"]
    assert again.json()["client_secret"] == secret and await count(admin, ClientRecord) == 2
    store = admin.env.container.store
    state = admin.env.container.service(AdminState)
    kept = await store.get(state.idempotency._store_key("ops", "create-svc"))
    assert kept is not None and secret.encode() not in kept and b"svc" not in kept


async def test_errors_are_not_kept_so_a_fixed_retry_runs(admin: Admin) -> None:
    body = await delegation_body(admin)
    wrong = {**body, "context": "S-NOT-THEIRS"}
    key = {"Idempotency-Key": "k1"}
    assert problem(await admin.post("/delegations", wrong, headers=key), "policy-refused", 422)["rule"]
    assert (await admin.post("/delegations", body, headers=key)).status_code == 201


async def test_keys_are_per_admin_client(admin: Admin) -> None:
    body = await delegation_body(admin)
    mine = await admin.post("/delegations", body, headers={"Idempotency-Key": "k"})
    other_token = await admin.client("other")
    theirs = await admin.post("/delegations", body, token=other_token, headers={"Idempotency-Key": "k"})
    assert theirs.status_code == 201 and theirs.json()["id"] != mine.json()["id"]


async def test_a_malformed_key_is_refused(admin: Admin) -> None:
    for value in (b"x" * 256, b"with space", "é".encode()):
        response = await admin.post("/keys/rotate", {}, headers={"Idempotency-Key": value})
        assert fields_of(problem(response, "validation", 422)) == {"Idempotency-Key"}


async def test_a_retry_reaching_another_process_is_caught(admin: Admin) -> None:
    if admin.env.backend != "postgres+redis":
        return  # the in-process store is one process by definition
    body = await delegation_body(admin)
    key = {"Idempotency-Key": "cross-process"}
    first = await admin.post("/delegations", body, headers=key)
    assert first.status_code == 201
    assert isinstance(admin.env.store, RedisStore)
    other = create_app(admin.env.settings, store=RedisStore(REDIS_URL, prefix=admin.env.store._prefix))
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other, client=("203.0.113.8", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            token = admin.tokens["ops"]
            again = await http.post(f"{API}/delegations", json=body,
                                    headers={**key, "authorization": f"Bearer {token}"})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(admin, Delegation) == 1
