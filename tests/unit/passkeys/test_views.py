"""The passkey views over HTTP (idp.passkeys.views / account_pages): CSRF, ceremony binding, the exact error codes
surfaced as JSON, step-up, and the account pages. Recorded Chromium ceremonies replace the browser here; the
live browser runs in tests/e2e/passkeys.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from starlette.requests import Request as StarletteRequest

from idp.accounts.models import Account
from idp.audit import AuditEvent
from idp.errors import AccountUnavailable, CsrfRefused, InteractionExpired, MandatError, NotSignedIn, SignInTooOld
from idp.oidc.models import Authentication
from idp.oidc.sessions import load_interaction
from idp.passkeys import errors
from idp.passkeys.models import PasskeyUserHandle, WebAuthnCredential
from idp.passkeys.service import PasskeyService
from idp.passkeys.views import offer_step_up
from idp.passkeys.webauthn import from_b64url
from tests.conftest import PASSWORD, REDIRECT, Env, form_field
from tests.fixtures.webauthn import load, resign_assertion
from tests.unit.passkeys.conftest import ScriptedChallenges, challenge_of, recorded_settings, response_json

REG_NONE, REG_NO_UV = load("registration_none"), load("registration_no_uv")
AUTH_DISCOVERABLE, AUTH_NO_UV, AUTH_UV_1 = (
    load("authentication_discoverable"), load("authentication_no_uv"), load("authentication_uv_1"))
PASSKEYS = Path(__file__).parents[3] / "idp" / "passkeys"


class Rig:
    """The app's passkey service swapped for one on the recording's origin with scripted challenges."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.challenges = ScriptedChallenges()
        container = env.container
        self.service = PasskeyService(container.db, container.store, recorded_settings(),
                                      challenges=self.challenges)
        container.provide(self.service)

    async def account(self, username: str = "alice", *, kind: str = "citizen", password: str | None = PASSWORD
                      ) -> Account:
        return await self.env.container.accounts.create(username=username, password=password, kind=kind,
                                                        given_name="Alice", family_name="Martin")

    async def register(self, account: Account, record: dict[str, Any], name: str = "Clé bleue") -> str:
        async with self.env.container.db.transaction() as session:
            session.add(PasskeyUserHandle(account_id=account.id, user_handle=from_b64url(record["user_handle"])))
        self.challenges.push(challenge_of(record))
        _, ceremony = await self.service.begin_registration(account, require_uv=bool(record["require_uv"]))
        credential = await self.service.finish_registration(account, ceremony, response_json(record), name,
                                                             bound_at="eidas3")
        return credential.id

    async def login_page(self, **params: str) -> tuple[str, str]:
        """Start an authorization; the interaction uid and the page's CSRF token."""
        response = await self.env.http.get("/authorize", params=self.env.authorize_params(**params))
        location = response.headers["location"]
        uid = location.rsplit("/", 1)[1]
        page = await self.env.http.get(location)
        assert page.status_code == 200, page.text
        return uid, form_field(page.text, "csrf_token")

    async def post(self, path: str, body: Any, csrf: str | None) -> Any:
        headers = {"x-csrf-token": csrf} if csrf else {}
        return await self.env.http.post(path, json=body, headers=headers)

    async def begin(self, uid: str, csrf: str, record: dict[str, Any], **body: Any) -> str:
        self.challenges.push(challenge_of(record))
        response = await self.post(f"/interaction/{uid}/passkeys/options", {"mode": "sign_in", **body}, csrf)
        assert response.status_code == 200, response.text
        ceremony: str = response.json()["ceremony"]
        return ceremony

    async def tags(self) -> list[str]:
        await self.env.container.audit.flush()
        async with self.env.container.db.session() as session:
            return list(await session.scalars(select(AuditEvent.tag).order_by(AuditEvent.id)))


@pytest.fixture
async def rig(sqlite_env: Env) -> Rig:
    await sqlite_env.add_client()
    return Rig(sqlite_env)


# --- CSRF and ceremony binding ----------------------------------------------------------------------------------

async def test_options_without_the_csrf_header_are_refused(rig: Rig) -> None:
    uid, _ = await rig.login_page()
    for token in (None, "0" * 64):
        response = await rig.post(f"/interaction/{uid}/passkeys/options", {"mode": "sign_in"}, token)
        assert response.status_code == 403
        assert response.json()["error"] == "csrf_invalid"


async def test_verify_without_the_csrf_header_is_refused(rig: Rig) -> None:
    uid, _ = await rig.login_page()
    response = await rig.post(f"/interaction/{uid}/passkeys/verify", {"ceremony": "x", "credential": {}}, None)
    assert (response.status_code, response.json()["error"]) == (403, "csrf_invalid")


async def test_unknown_ceremony_is_refused(rig: Rig) -> None:
    uid, csrf = await rig.login_page()
    response = await rig.post(f"/interaction/{uid}/passkeys/verify",
                              {"ceremony": "never-begun", "credential": response_json(AUTH_UV_1)}, csrf)
    assert (response.status_code, response.json()["error"]) == (400, "challenge_unknown")


async def test_unknown_mode_is_refused(rig: Rig) -> None:
    uid, csrf = await rig.login_page()
    response = await rig.post(f"/interaction/{uid}/passkeys/options", {"mode": "teleport"}, csrf)
    assert (response.status_code, response.json()["error"]) == (400, "challenge_unknown")


async def test_body_that_is_not_json_is_malformed(rig: Rig) -> None:
    uid, csrf = await rig.login_page()
    response = await rig.env.http.post(f"/interaction/{uid}/passkeys/options", content=b"mode=sign_in",
                                       headers={"x-csrf-token": csrf, "content-type": "text/plain"})
    assert (response.status_code, response.json()["error"]) == (400, "malformed")


async def test_a_ceremony_cannot_be_finished_twice(rig: Rig) -> None:
    account = await rig.account()
    await rig.register(account, REG_NONE)
    uid, csrf = await rig.login_page()
    ceremony = await rig.begin(uid, csrf, AUTH_UV_1)
    first = await rig.post(f"/interaction/{uid}/passkeys/verify",
                           {"ceremony": ceremony, "credential": AUTH_UV_1["response"]}, csrf)
    assert first.status_code == 200, first.text
    again = await rig.post(f"/interaction/{uid}/passkeys/verify",
                           {"ceremony": ceremony, "credential": AUTH_UV_1["response"]}, csrf)
    assert again.json()["error"] == "challenge_unknown"


async def test_a_ceremony_begun_for_one_interaction_cannot_finish_another(rig: Rig) -> None:
    account = await rig.account()
    await rig.register(account, REG_NONE)
    uid, csrf = await rig.login_page()
    other_uid, _ = await rig.login_page()
    ceremony = await rig.begin(uid, csrf, AUTH_UV_1)
    response = await rig.post(f"/interaction/{other_uid}/passkeys/verify",
                              {"ceremony": ceremony, "credential": AUTH_UV_1["response"]}, csrf)
    assert response.json()["error"] == "challenge_unknown"


# --- sign-in outcomes -----------------------------------------------------------------------------------------

async def test_passwordless_sign_in_opens_the_session_with_the_keys_assurance(rig: Rig) -> None:
    account = await rig.account()
    await rig.register(account, REG_NONE)
    uid, csrf = await rig.login_page()
    ceremony = await rig.begin(uid, csrf, AUTH_DISCOVERABLE)
    response = await rig.post(f"/interaction/{uid}/passkeys/verify",
                              {"ceremony": ceremony, "credential": AUTH_DISCOVERABLE["response"]}, csrf)
    assert response.status_code == 200, response.text
    assert response.json() == {"redirect": f"/interaction/{uid}"}
    assert "mandat_session=" in response.headers["set-cookie"]
    tokens = await _finish_flow(rig, uid)
    assert tokens["id_claims"]["amr"] == ["hwk", "user", "mfa"] and tokens["id_claims"]["acr"] == "eidas2"
    assert "passkeys:login:succeeded" in await rig.tags()


async def test_unknown_key_is_named_in_the_answer(rig: Rig) -> None:
    uid, csrf = await rig.login_page(ui_locales="fr")
    ceremony = await rig.begin(uid, csrf, AUTH_DISCOVERABLE)
    response = await rig.post(f"/interaction/{uid}/passkeys/verify",
                              {"ceremony": ceremony, "credential": AUTH_DISCOVERABLE["response"]}, csrf)
    assert response.status_code == 400
    assert response.json() == {"error": "unknown_credential",
                               "message": "Cette clé n'est enregistrée sur aucun compte."}
    assert "passkeys:login:failed" in await rig.tags()


async def test_unknown_username_gets_discoverable_options_and_then_unknown_credential(rig: Rig) -> None:
    account = await rig.account()
    await rig.register(account, REG_NONE)
    uid, csrf = await rig.login_page()
    rig.challenges.push(challenge_of(AUTH_DISCOVERABLE))
    begun = await rig.post(f"/interaction/{uid}/passkeys/options", {"mode": "sign_in", "username": "nobody"}, csrf)
    assert begun.json()["options"].get("allowCredentials", []) == []
    response = await rig.post(f"/interaction/{uid}/passkeys/verify", {
        "ceremony": begun.json()["ceremony"], "credential": AUTH_DISCOVERABLE["response"]}, csrf)
    assert response.json()["error"] == "unknown_credential"


async def test_professional_key_without_user_verification_is_refused(rig: Rig) -> None:
    account = await rig.account("dr.martin", kind="professional")
    await rig.register(account, REG_NO_UV)
    uid, csrf = await rig.login_page(ui_locales="en")
    rig.challenges.push(challenge_of(AUTH_NO_UV))
    begun = await rig.post(f"/interaction/{uid}/passkeys/options", {"mode": "sign_in", "username": "dr.martin"},
                           csrf)
    # Username-first: only this professional's keys, and the browser is told UV is required.
    assert begun.json()["uv_required"] is True
    assert begun.json()["options"]["userVerification"] == "required"
    assert len(begun.json()["options"]["allowCredentials"]) == 1
    response = await rig.post(f"/interaction/{uid}/passkeys/verify", {
        "ceremony": begun.json()["ceremony"], "credential": AUTH_NO_UV["response"]}, csrf)
    assert response.status_code == 400
    assert response.json() == {"error": "user_verification_required",
                               "message": "Your security key must verify you (PIN or biometrics) for this sign-in."}
    assert "mandat_session" not in response.headers.get("set-cookie", "")


async def test_counter_regression_is_refused_and_audited(rig: Rig) -> None:
    account = await rig.account()
    await rig.register(account, REG_NONE)
    async with rig.env.container.db.transaction() as session:
        await session.execute(update(WebAuthnCredential).values(sign_count=100))
    uid, csrf = await rig.login_page()
    challenge = b"r" * 32
    rig.challenges.push(challenge)
    begun = await rig.post(f"/interaction/{uid}/passkeys/options", {"mode": "sign_in"}, csrf)
    clone = resign_assertion(AUTH_UV_1, REG_NONE, challenge=challenge, sign_count=7)
    response = await rig.post(f"/interaction/{uid}/passkeys/verify",
                              {"ceremony": begun.json()["ceremony"], "credential": clone}, csrf)
    assert response.json()["error"] == "counter_regression"
    tags = await rig.tags()
    assert "passkeys:counter:regressed" in tags and "passkeys:login:failed" in tags


async def test_locked_account_cannot_sign_in_with_its_key(rig: Rig) -> None:
    account = await rig.account()
    await rig.register(account, REG_NONE)
    async with rig.env.container.db.transaction() as session:
        await session.execute(update(Account).where(Account.id == account.id).values(status="locked"))
    uid, csrf = await rig.login_page()
    ceremony = await rig.begin(uid, csrf, AUTH_UV_1)
    response = await rig.post(f"/interaction/{uid}/passkeys/verify",
                              {"ceremony": ceremony, "credential": AUTH_UV_1["response"]}, csrf)
    assert response.json()["error"] == "account_unavailable"


# --- step-up ------------------------------------------------------------------------------------------------------

async def _password_login(rig: Rig, username: str = "alice", **params: str) -> tuple[str, Any]:
    response = await rig.env.http.get("/authorize", params=rig.env.authorize_params(**params))
    uid = response.headers["location"].rsplit("/", 1)[1]
    after = await rig.env.login(response, username=username)
    assert after.status_code == 303
    return uid, await rig.env.http.get(after.headers["location"])


async def test_password_then_eidas2_request_offers_the_security_key(rig: Rig) -> None:
    account = await rig.account()
    await rig.register(account, REG_NONE)
    uid, page = await _password_login(rig, acr_values="eidas2")
    assert page.status_code == 200
    assert "Confirmer avec votre clé de sécurité" in page.text and 'data-passkeys="step_up"' in page.text
    csrf = form_field(page.text, "csrf_token")
    rig.challenges.push(challenge_of(AUTH_UV_1))
    begun = await rig.post(f"/interaction/{uid}/passkeys/options", {"mode": "step_up"}, csrf)
    assert len(begun.json()["options"]["allowCredentials"]) == 1
    response = await rig.post(f"/interaction/{uid}/passkeys/verify",
                              {"ceremony": begun.json()["ceremony"], "credential": AUTH_UV_1["response"]}, csrf)
    assert response.status_code == 200, response.text
    tokens = await _finish_flow(rig, uid)
    assert tokens["id_claims"]["acr"] == "eidas2"
    assert tokens["id_claims"]["amr"] == ["pwd", "hwk", "user", "mfa"]


async def test_step_up_ceremony_cannot_be_finished_as_a_plain_sign_in_of_another_interaction(rig: Rig) -> None:
    account = await rig.account()
    await rig.register(account, REG_NONE)
    uid, page = await _password_login(rig, acr_values="eidas2")
    csrf = form_field(page.text, "csrf_token")
    rig.challenges.push(challenge_of(AUTH_UV_1))
    begun = await rig.post(f"/interaction/{uid}/passkeys/options", {"mode": "step_up"}, csrf)
    other_uid, _ = await rig.login_page()
    response = await rig.post(f"/interaction/{other_uid}/passkeys/verify",
                              {"ceremony": begun.json()["ceremony"], "credential": AUTH_UV_1["response"]}, csrf)
    assert response.json()["error"] == "challenge_unknown"


async def test_password_then_eidas2_request_without_a_key_is_unmet(rig: Rig) -> None:
    await rig.account()
    _, page = await _password_login(rig, acr_values="eidas2")
    assert page.status_code in (302, 303)
    assert "error=unmet_authentication_requirements" in page.headers["location"]


async def test_eidas3_request_with_only_an_eidas2_key_offers_no_step_up(rig: Rig) -> None:
    account = await rig.account()
    await rig.register(account, REG_NONE)
    _, page = await _password_login(rig, acr_values="eidas2")
    assert 'data-passkeys="step_up"' in page.text
    interaction = await load_interaction(rig.env.container.provider, page.url.path.rsplit("/", 1)[1],
                                         rig.env.http.cookies.get(f"mandat_ia_{page.url.path.rsplit('/', 1)[1]}"))
    assert interaction is not None and interaction.account_id == account.id
    wanted = dataclasses.replace(interaction.request, acr_values=("eidas3",))
    auth = Authentication(account.id, 0, "eidas1", ("pwd",), "sid")
    offered = await offer_step_up(StarletteRequest({"type": "http", "app": rig.env.app, "headers": [],
                                                    "query_string": b"", "path": "/"}),
                                  dataclasses.replace(interaction, request=wanted),
                                  await rig.env.container.clients.get("rp"), auth, "fr")
    assert offered is None


# --- account pages --------------------------------------------------------------------------------------------

async def _account_session(rig: Rig, username: str = "alice") -> str:
    page = await rig.env.http.get("/account/login")
    response = await rig.env.http.post("/account/login", data={
        "csrf_token": form_field(page.text, "csrf_token"), "username": username, "password": PASSWORD,
        "next": "/account/passkeys/new"})
    assert response.status_code == 303 and response.headers["location"] == "/account/passkeys/new"
    account_page = await rig.env.http.get("/account")
    assert account_page.status_code == 200
    return form_field(account_page.text, "csrf_token")


@pytest.mark.parametrize("path", ["/account", "/account/passkeys/new"])
async def test_account_pages_ask_to_sign_in_first(rig: Rig, path: str) -> None:
    response = await rig.env.http.get(path)
    assert (response.status_code, response.headers["location"]) == (303, f"/account/login?next={path}")


async def test_login_next_cannot_leave_the_account_pages(rig: Rig) -> None:
    await rig.account()
    page = await rig.env.http.get("/account/login")
    response = await rig.env.http.post("/account/login", data={
        "csrf_token": form_field(page.text, "csrf_token"), "username": "alice", "password": PASSWORD,
        "next": "https://evil.example/"})
    assert response.headers["location"] == "/account"


async def test_registration_needs_csrf_and_a_session(rig: Rig) -> None:
    page = await rig.env.http.get("/account/login")
    csrf = form_field(page.text, "csrf_token")
    assert (await rig.post("/account/passkeys/options", {}, None)).json()["error"] == "csrf_invalid"
    response = await rig.post("/account/passkeys/options", {}, csrf)
    assert (response.status_code, response.json()["error"]) == (401, "not_signed_in")


async def test_register_rename_and_remove_are_audited(rig: Rig) -> None:
    account = await rig.account()
    async with rig.env.container.db.transaction() as session:
        session.add(PasskeyUserHandle(account_id=account.id, user_handle=from_b64url(REG_NONE["user_handle"])))
    csrf = await _account_session(rig)
    rig.challenges.push(challenge_of(REG_NONE))
    begun = await rig.post("/account/passkeys/options", {}, csrf)
    assert begun.status_code == 200
    bad_name = await rig.post("/account/passkeys/register", {
        "ceremony": begun.json()["ceremony"], "credential": REG_NONE["response"], "name": " "}, csrf)
    assert bad_name.json()["error"] == "invalid_name"
    # The name is checked before the ceremony is used: it can be corrected.
    done = await rig.post("/account/passkeys/register", {
        "ceremony": begun.json()["ceremony"], "credential": REG_NONE["response"], "name": "Clé bleue"}, csrf)
    assert done.json() == {"redirect": "/account?done=registered_one_factor"}
    page = await rig.env.http.get("/account?done=registered")
    assert "Clé bleue" in page.text and 'role="status"' in page.text
    key = re.search(r'/account/passkeys/([0-9a-f]{32})/rename', page.text)
    assert key
    renamed = await rig.env.http.post(f"/account/passkeys/{key.group(1)}/rename",
                                      data={"csrf_token": csrf, "name": "Clé de secours"})
    assert renamed.headers["location"] == "/account?done=renamed"
    removed = await rig.env.http.post(f"/account/passkeys/{key.group(1)}/remove", data={"csrf_token": csrf})
    assert removed.headers["location"] == "/account?done=removed"
    tags = await rig.tags()
    for tag in ("passkeys:credential:registered", "passkeys:credential:renamed", "passkeys:credential:removed"):
        assert tag in tags


async def test_rename_without_csrf_is_refused(rig: Rig) -> None:
    account = await rig.account()
    key = await rig.register(account, REG_NONE)
    await _account_session(rig)
    response = await rig.env.http.post(f"/account/passkeys/{key}/rename", data={"name": "X"})
    assert response.status_code == 403


async def test_removing_the_last_means_of_sign_in_needs_confirmation(rig: Rig) -> None:
    account = await rig.account()
    key = await rig.register(account, REG_NONE)
    csrf = await _account_session(rig)
    # The account loses its password (e.g. activated with a passkey only): the key is all that is left.
    async with rig.env.container.db.transaction() as session:
        await session.execute(update(Account).where(Account.id == account.id).values(password_hash=None))
    warned = await rig.env.http.post(f"/account/passkeys/{key}/remove", data={"csrf_token": csrf})
    assert warned.status_code == 409
    assert 'role="alert"' in warned.text and 'name="confirm_last" value="yes"' in warned.text
    assert len(await rig.service.list_credentials(account.id)) == 1
    confirmed = await rig.env.http.post(f"/account/passkeys/{key}/remove",
                                        data={"csrf_token": csrf, "confirm_last": "yes"})
    assert confirmed.headers["location"] == "/account?done=removed"
    assert await rig.service.list_credentials(account.id) == []


async def test_someone_elses_key_cannot_be_removed(rig: Rig) -> None:
    owner = await rig.account("bob")
    key = await rig.register(owner, REG_NONE)
    await rig.account("alice")
    csrf = await _account_session(rig, "alice")
    response = await rig.env.http.post(f"/account/passkeys/{key}/remove", data={"csrf_token": csrf})
    assert response.status_code == 400
    assert len(await rig.service.list_credentials(owner.id)) == 1


# --- translations -----------------------------------------------------------------------------------------------

def test_every_passkey_text_has_a_french_translation() -> None:
    catalogues = [PASSKEYS / "locales/fr/LC_MESSAGES/messages.po",
                  PASSKEYS.parent / "http/locales/fr/LC_MESSAGES/messages.po"]
    translated: set[str] = set()
    for path in catalogues:
        with path.open("rb") as handle:
            translated |= {str(m.id) for m in read_po(handle) if m.id and m.string}
    wanted = set()
    for template in (PASSKEYS / "templates").rglob("*.html"):
        for double, single in re.findall(r"""_\((?:"([^"]+)"|'([^']+)')""", template.read_text()):
            wanted.add(double or single)
    assert len(wanted) > 40, "the template scan found too few texts: the pattern no longer matches"
    wanted |= {cls.public for cls in _error_classes()}
    assert wanted - translated == set()


def _error_classes() -> list[type[MandatError]]:
    found: list[type[MandatError]] = [getattr(errors, name) for name in errors.__all__]
    found += [AccountUnavailable, CsrfRefused, InteractionExpired, NotSignedIn, SignInTooOld]
    return found


# --- helpers ----------------------------------------------------------------------------------------------------

async def _finish_flow(rig: Rig, uid: str) -> dict[str, Any]:
    """From /interaction/{uid} after a sign-in: consent, code, tokens; the ID token's claims."""
    response = await rig.env.consent(f"/interaction/{uid}")
    location = response.headers["location"]
    code = re.search(r"code=([^&]+)", location)
    assert code, location
    tokens = await rig.env.token({"grant_type": "authorization_code", "code": code.group(1),
                                  "redirect_uri": REDIRECT, "code_verifier": rig.env.last_verifier})
    assert tokens.status_code == 200, tokens.text
    keys = KeySet.import_key_set((await rig.env.http.get("/jwks")).json())
    claims = jwt.decode(tokens.json()["id_token"], keys).claims
    return {"id_claims": claims}


# --- binding a key (security review: a phished password must not become a lasting "MFA" key) -------------------

async def test_key_bound_from_a_password_session_cannot_reach_eidas2(rig: Rig) -> None:
    """The whole attack: a password-only session registers a key, then signs in with it asking eidas2."""
    account = await rig.account()
    async with rig.env.container.db.transaction() as session:
        session.add(PasskeyUserHandle(account_id=account.id, user_handle=from_b64url(REG_NONE["user_handle"])))
    csrf = await _account_session(rig)  # signed in with the (phished) password only
    rig.challenges.push(challenge_of(REG_NONE))
    begun = await rig.post("/account/passkeys/options", {}, csrf)
    done = await rig.post("/account/passkeys/register", {
        "ceremony": begun.json()["ceremony"], "credential": REG_NONE["response"], "name": "Attacker key"}, csrf)
    # The person is told the key was added, and that it does not count as a second factor.
    assert done.json() == {"redirect": "/account?done=registered_one_factor"}
    notice = await rig.env.http.get("/account?done=registered_one_factor")
    assert "ne compte pas comme second facteur" in notice.text and 'role="status"' in notice.text
    async with rig.env.container.db.session() as session:
        stored = (await session.scalars(select(WebAuthnCredential))).one()
    assert stored.acr == "eidas1"
    await rig.env.http.post("/account/logout", data={"csrf_token": csrf})
    uid, csrf = await rig.login_page(acr_values="eidas2")
    ceremony = await rig.begin(uid, csrf, AUTH_DISCOVERABLE)
    response = await rig.post(f"/interaction/{uid}/passkeys/verify",
                              {"ceremony": ceremony, "credential": AUTH_DISCOVERABLE["response"]}, csrf)
    assert response.status_code == 200, response.text
    finish = await rig.env.http.get(response.json()["redirect"])
    location = finish.headers["location"]
    assert "error=unmet_authentication_requirements" in location
    assert "the+sign-in+method+does+not+reach+the+requested+acr" in location
    audit = [tag for tag in await rig.tags() if tag.startswith("passkeys:")]
    assert "passkeys:credential:registered" in audit


async def test_adding_a_key_needs_a_recent_sign_in(rig: Rig) -> None:
    await rig.account()
    csrf = await _account_session(rig)
    rig.env.container.provider.clock = lambda: time.time() + 3600
    response = await rig.post("/account/passkeys/options", {}, csrf)
    assert (response.status_code, response.json()["error"]) == (401, "sign_in_too_old")
    page = await rig.env.http.get("/account/passkeys/new")
    assert (page.status_code, page.headers["location"]) == (303, "/account/login?next=/account/passkeys/new&again=1")
