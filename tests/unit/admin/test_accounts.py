"""Accounts: find (username, national id, insurance number, names), read, lock and unlock with a reason, list
credentials, end sessions; on both backends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from idp.audit import AuditEvent
from idp.passkeys.models import WebAuthnCredential
from tests.conftest import REDIRECT
from tests.unit.admin.conftest import Admin, fields_of, problem


async def events(admin: Admin, tag: str) -> list[AuditEvent]:
    await admin.env.container.audit.flush()
    async with admin.env.container.db.session() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


async def people(admin: Admin) -> dict[str, str]:
    return {
        "alice": await admin.env.add_account("alice"),
        "léa": await admin.account("2840575123456", given_name="Léa", family_name="Dubois",
                                   national_id="2840575123456",
                                   identity={"identity_status": "QUAL", "health_insurance_number": "2840575123456"}),
        "paul": await admin.account("paul.martin", given_name="Paul", family_name="Martin"),
        "dr": await admin.professional("810001234567", "810001234567", ["S1"]),
    }


async def found(admin: Admin, q: str) -> set[str]:
    response = await admin.get("/accounts", params={"q": q})
    assert response.status_code == 200, response.text
    return {item["username"] for item in response.json()["items"]}


async def test_find_accounts(admin: Admin) -> None:
    await people(admin)
    assert await found(admin, "alice") == {"alice"}
    assert await found(admin, "2 84 05 75 123 456") == {"2840575123456"}  # an insurance number, typed with spaces
    assert await found(admin, "810001234567") == {"810001234567"}  # a national id
    assert await found(admin, "martin") == {"alice", "paul.martin"}  # family names
    assert await found(admin, "paul MARTIN") == {"paul.martin"}  # every word must match
    assert await found(admin, "nobody") == set()
    assert await found(admin, "50%_") == set()  # LIKE wildcards are literal
    everyone = (await admin.get("/accounts")).json()["items"]
    assert len(everyone) == 4
    lea = next(item for item in everyone if item["username"] == "2840575123456")
    assert lea["identity_status"] == "QUAL" and lea["given_name"] == "Léa" and lea["managed"] is False


async def test_account_pages_are_stable_while_accounts_are_added(admin: Admin) -> None:
    for n in range(9):
        await admin.account(f"user{n}")
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 4}
    while True:
        page = (await admin.get("/accounts", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
        await admin.account(f"late{len(seen)}")
    assert len(seen) == len(set(seen)) >= 9


async def test_account_query_errors_name_the_parameter(admin: Admin) -> None:
    for params, field in (({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"limit": "ten"}, "limit"),
                          ({"page": 2}, "page"), ({"q": "x" * 201}, "q"), ({"q": "a\x00b"}, "q")):
        assert field in fields_of(problem(await admin.get("/accounts", params=params), "validation", 422)), params
    repeated = await admin.call("GET", "/accounts?q=a&q=b")
    assert fields_of(problem(repeated, "validation", 422)) == {"q"}


async def test_read_an_account(admin: Admin) -> None:
    ids = await people(admin)
    response = await admin.get(f"/accounts/{ids['dr']}")
    assert response.status_code == 200 and response.json()["kind"] == "professional"
    problem(await admin.get("/accounts/0123456789abcdef0123456789abcdef"), "not-found", 404)
    problem(await admin.get("/accounts/not%20an%20id"), "not-found", 404)


async def test_lock_ends_sessions_and_grants_then_unlock(admin: Admin) -> None:
    env = admin.env
    await env.add_client()
    alice = await env.add_account("alice")
    tokens = await env.tokens_for(scope="openid profile offline_access", prompt="consent")
    assert "refresh_token" in tokens
    response = await admin.post(f"/accounts/{alice}/lock", {"reason": "reported stolen phone"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "locked"
    refreshed = await env.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    login = await env.container.accounts.login_with_password("alice", "correct-horse-battery-staple", "192.0.2.1")
    assert not login.ok
    [event] = await events(admin, "admin:account:locked")
    assert (event.actor, event.client_id, event.subject) == ("admin:ops", "ops", alice)
    assert event.detail == {"reason": "reported stolen phone", "grants_revoked": 1}
    problem(await admin.post(f"/accounts/{alice}/lock", {"reason": "again"}), "conflict", 409)
    unlocked = await admin.post(f"/accounts/{alice}/unlock", {"reason": "phone found"})
    assert unlocked.status_code == 200 and unlocked.json()["status"] == "active"
    problem(await admin.post(f"/accounts/{alice}/unlock", {"reason": "again"}), "conflict", 409)
    assert (await env.container.accounts.login_with_password("alice", "correct-horse-battery-staple",
                                                             "192.0.2.1")).ok


async def test_lock_and_unlock_refusals(admin: Admin) -> None:
    alice = await admin.env.add_account("alice")
    for path in (f"/accounts/{alice}/lock", f"/accounts/{alice}/unlock"):
        assert fields_of(problem(await admin.post(path, {}), "validation", 422)) == {"reason"}
        assert fields_of(problem(await admin.post(path), "validation", 422)) == {"body"}
        assert "reason" in fields_of(problem(await admin.post(path, {"reason": ""}), "validation", 422))
        problem(await admin.post(path.replace(alice, "f" * 32), {"reason": "x"}), "not-found", 404)


async def test_credentials(admin: Admin) -> None:
    ids = await people(admin)
    async with admin.env.container.db.transaction() as session:
        session.add(WebAuthnCredential(account_id=ids["dr"], credential_id=b"\x01" * 16, public_key=b"k",
                                       aaguid="00000000-0000-0000-0000-000000000000", attestation_fmt="none",
                                       acr="eidas2", name="YubiKey"))
    items = (await admin.get(f"/accounts/{ids['dr']}/credentials")).json()["items"]
    assert [c["type"] for c in items] == ["password", "passkey", "card"]
    assert items[1]["name"] == "YubiKey" and items[2]["national_id"] == "810001234567"
    assert items[2]["acr"] == "eidas3"
    none = await admin.account("nopass", password_hash=None)
    assert (await admin.get(f"/accounts/{none}/credentials")).json() == {"items": [], "next_cursor": None}
    problem(await admin.get(f"/accounts/{'0' * 32}/credentials"), "not-found", 404)


async def test_revoke_sessions(admin: Admin) -> None:
    env = admin.env
    await env.add_client()
    alice = await env.add_account("alice")
    tokens = await env.tokens_for(scope="openid profile offline_access", prompt="consent")
    silent = await env.http.get("/authorize", params=env.authorize_params(scope="openid profile"))
    assert silent.headers["location"].startswith(REDIRECT)  # the SSO session signs in without a page
    response = await admin.post(f"/accounts/{alice}/sessions/revoke", {"reason": "signed in on a shared PC"})
    assert response.status_code == 200, response.text
    assert response.json() == {"account_id": alice, "grants_revoked": 1}
    refreshed = await env.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.json()["error"] == "invalid_grant"
    # The SSO session is gone: a new authorization request asks to sign in again.
    again = await env.http.get("/authorize", params=env.authorize_params(scope="openid profile"))
    assert again.headers["location"].startswith("/interaction/")
    assert (await admin.post(f"/accounts/{alice}/sessions/revoke")).json()["grants_revoked"] == 0
    problem(await admin.post(f"/accounts/{'0' * 32}/sessions/revoke", {}), "not-found", 404)
    assert fields_of(problem(await admin.post(f"/accounts/{alice}/sessions/revoke", {"reason": 5}),
                             "validation", 422)) == {"reason"}
    assert fields_of(problem(await admin.get(f"/accounts/{alice}/credentials", params={"all": "1"}),
                             "validation", 422)) == {"all"}
    [first, _second] = await events(admin, "admin:account:sessions_revoked")
    assert first.detail == {"reason": "signed in on a shared PC", "grants_revoked": 1}
