"""Recovery revokes the old credentials; enrolled citizens' claims reach relying portals only as allowed."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from idp.audit import AuditEvent
from idp.enrollment.demo import DEMO_CITIZEN
from idp.oidc.sessions import load_session
from idp.passkeys.models import WebAuthnCredential
from tests.conftest import BACKENDS, REDIRECT, Env
from tests.unit.enrollment.pages import NEW_PASSWORD, activate, latest_code, request_code, typed_request, web_app

NIR = DEMO_CITIZEN["number"]
VERIFIED = json.dumps({"userinfo": {"verified_claims": None}, "id_token": {"verified_claims": None}})


@pytest.fixture(params=BACKENDS)
async def web(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Env]:
    async with web_app(request.param, request, tmp_path, sqlite_template) as value:
        yield value


async def enrol(web: Env, password: str = NEW_PASSWORD, path: str = "/enroll") -> str:
    """Request a code, activate it; returns the SSO session cookie the activation set."""
    assert (await request_code(web, typed_request(DEMO_CITIZEN), path)).status_code == 303
    response = await activate(web, NIR, await latest_code(web, NIR), password)
    assert response.status_code == 303, response.text
    token = web.http.cookies.get("mandat_session")
    assert token
    return token


def payload(jwt: str) -> dict[str, Any]:
    part = jwt.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


async def signed_in_tokens(web: Env, password: str = NEW_PASSWORD, **params: Any) -> dict[str, Any]:
    """A fresh password sign-in (the activation's session cookie is dropped first) → tokens."""
    web.http.cookies.delete("mandat_session")
    params = web.authorize_params(**params)
    verifier = web.last_verifier
    response = await web.http.get("/authorize", params=params)
    response = await web.login(response, username=NIR, password=password)
    assert response.status_code == 303, response.text
    response = await web.consent(response.headers["location"])
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    tokens = await web.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                              "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


async def test_recovery_revokes_password_sessions_grants_and_passkeys(web: Env) -> None:
    activation_session = await enrol(web)
    await web.add_client(scopes="openid profile offline_access")
    tokens = await signed_in_tokens(web, scope="openid profile offline_access", prompt="consent")
    login_session = web.http.cookies.get("mandat_session")
    account = await web.container.accounts.by_username(NIR)
    assert account is not None and login_session
    async with web.container.db.transaction() as session:
        session.add(WebAuthnCredential(account_id=account.id, credential_id=b"lost-phone", public_key=b"k",
                                       aaguid="00000000-0000-0000-0000-000000000000", attestation_fmt="none",
                                       acr="eidas2", name="Lost phone"))

    # "Forgot password / lost device": the same form at /recover mails a recovery code.
    web.http.cookies.delete("mandat_session")
    new_password = "lighthouse marmalade orbit seven"
    await enrol(web, new_password, path="/recover")
    done = await web.http.get("/activate/done?recovered=1")
    assert "Your old password, your passkeys and the places where you were signed in no longer work." in done.text

    provider = web.container.provider
    assert await load_session(provider, activation_session) is None
    assert await load_session(provider, login_session) is None
    refreshed = await web.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    introspected = await web.http.post("/token/introspect", data={"token": tokens["access_token"]},
                                       auth=web.auth())
    assert introspected.json() == {"active": False}
    async with web.container.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(WebAuthnCredential)) == 0
    old = await web.container.accounts.login_with_password(NIR, NEW_PASSWORD, "198.51.100.1")
    new = await web.container.accounts.login_with_password(NIR, new_password, "198.51.100.1")
    assert old.account is None and new.account is not None
    await web.container.audit.flush()
    async with web.container.db.session() as session:
        detail = await session.scalar(select(AuditEvent.detail).where(AuditEvent.tag == "enrollment:account:recovered"))
    assert detail is not None and detail["grants"] == 1 and detail["passkeys"] == 1


async def test_recovery_code_letter_says_recovery(web: Env) -> None:
    await enrol(web)
    await request_code(web, typed_request(DEMO_CITIZEN), "/recover")
    page = await web.http.get("/demo/outbox")
    assert "Recovery" in page.text


async def test_identite_pivot_health_insurance_and_verified_claims(web: Env) -> None:
    await enrol(web)
    await web.add_client(scopes="openid profile identite_pivot health_insurance")
    tokens = await signed_in_tokens(web, scope="openid identite_pivot health_insurance", claims=VERIFIED)
    userinfo = (await web.http.get("/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"})).json()
    assert {k: userinfo[k] for k in ("given_name", "family_name", "birthdate", "gender", "birthplace",
                                     "birthcountry")} == {
        "given_name": "Jean Michel", "family_name": "Dupont-Lefèvre", "birthdate": "1985-04-12", "gender": "male",
        "birthplace": "75111", "birthcountry": "99100"}
    assert userinfo["health_insurance_number"] == NIR and userinfo["identity_status"] == "QUAL"
    verified = userinfo["verified_claims"]
    assert verified["verification"]["trust_framework"] == "fr_ins"
    assert verified["verification"]["evidence"][0]["record"]["type"] == "health_insurance_register"
    assert verified["claims"]["family_name"] == "Dupont-Lefèvre"
    assert "address" not in verified["claims"]  # no scope of this client carries the address
    id_token = payload(tokens["id_token"])
    assert id_token["verified_claims"] == verified
    assert "health_insurance_number" not in id_token  # the ID token carries what was asked for it only


async def test_claims_parameter_cannot_widen_what_a_client_may_learn(web: Env) -> None:
    await enrol(web)
    await web.add_client(scopes="openid profile")
    asked = json.dumps({"userinfo": {"health_insurance_number": None, "birthplace": None, "verified_claims": None}})
    tokens = await signed_in_tokens(web, scope="openid profile", claims=asked)
    userinfo = (await web.http.get("/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"})).json()
    assert "health_insurance_number" not in userinfo and "birthplace" not in userinfo
    assert userinfo["given_name"] == "Jean Michel"  # profile, from the account
    assert "verified_claims" in userinfo  # allowed with profile
    # A scope the client is not registered for is refused by the core.
    response = await web.http.get("/authorize", params=web.authorize_params(scope="openid health_insurance"))
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert response.headers["location"].startswith(REDIRECT) and query["error"] == ["invalid_scope"]


async def test_discovery_announces_the_enrollment_scopes_and_claims(web: Env) -> None:
    metadata = (await web.http.get("/.well-known/openid-configuration")).json()
    assert {"identite_pivot", "health_insurance"} <= set(metadata["scopes_supported"])
    assert {"birthplace", "birthcountry", "health_insurance_number", "verified_claims"} <= set(
        metadata["claims_supported"])


async def test_account_without_enrollment_gets_no_enrollment_claims(web: Env) -> None:
    await web.add_client(scopes="openid profile identite_pivot health_insurance")
    await web.add_account()
    tokens = await web.tokens_for(scope="openid identite_pivot health_insurance", claims=VERIFIED)
    userinfo = (await web.http.get("/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"})).json()
    assert set(userinfo) == {"sub"}
