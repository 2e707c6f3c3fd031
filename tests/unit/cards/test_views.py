"""Card sign-in over HTTP (in-process card): routes, CSRF, challenge binding, each failure code, claims, mTLS header."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from idp.accounts.models import Account
from idp.app import create_app
from idp.audit import AuditEvent
from idp.cards.directory import import_directory
from idp.cards.emulator import VirtualCpsCard
from idp.cards.luhn import national_id_from_rpps, rpps_with_check_digit
from idp.cards.testpki import GeneratedPki, _make_ca, issue_card_certificate, load_ca, new_rsa_key
from idp.cards.views import domain
from idp.store import MemoryStore
from tests.conftest import ISSUER, Env, make_settings

from .card_flow import (
    PIN,
    code_after_sign_in,
    in_process_signer,
    jwt_claims,
    open_login_page,
    post_challenge,
    post_verify,
    tokens_and_userinfo,
)
from .conftest import REVOKED_ID, VALID_ID

PROXY = "10.0.0.2"
PSC_CLAIMS = {"SubjectNameID", "preferred_username", "given_name", "family_name", "SubjectRefPro",
              "SubjectOrganization", "SubjectOrganizationID", "SubjectRole", "otherIds", "authMode"}


async def _cards_env(tmp_path: Path, sqlite_template: Path, peer: str, **extra: str) -> AsyncIterator[Env]:
    db_path = tmp_path / "mandat.db"
    shutil.copy(sqlite_template, db_path)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db_path}", **extra)
    # Only the cards domain: these tests are about its routes, whatever the other domains mount.
    app = create_app(settings, store=MemoryStore(), domains=[domain])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 50000))
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER, follow_redirects=False) as http:
            env = Env("sqlite+memory", settings, app, http, MemoryStore())
            await env.add_client(scopes="openid profile email scope_all rpps identity", audiences=["professional"])
            yield env


@pytest.fixture
async def cards_env(tmp_path: Path, sqlite_template: Path, pki: GeneratedPki) -> AsyncIterator[Env]:
    async for env in _cards_env(tmp_path, sqlite_template, "203.0.113.7", **pki.env(),
                                MANDAT_CARDS_TLS_LOGIN="true", MANDAT_TRUSTED_PROXIES=PROXY):
        await import_directory(env.container.db, pki.out_dir / "directory.txt", False)
        yield env


def signer(card: VirtualCpsCard, origin: str = ISSUER) -> Any:
    return in_process_signer(card, origin)


async def audited(env: Env, tag: str) -> list[AuditEvent]:
    await env.container.audit.flush()
    async with env.container.db.session() as session:
        return list((await session.scalars(select(AuditEvent).where(AuditEvent.tag == tag))).all())


async def failure_code(env: Env, card: VirtualCpsCard, origin: str = ISSUER) -> tuple[int, str, str]:
    page = await open_login_page(env.http)
    challenge = (await post_challenge(env.http, page)).json()["challenge"]
    response = await post_verify(env.http, page, challenge, await signer(card, origin)(challenge))
    body = response.json()
    return response.status_code, body["error"], body["message"]


# --- feature switch ---------------------------------------------------------------------------------------------

async def test_cards_disabled_means_no_routes_no_metadata_no_login_method(tmp_path: Path,
                                                                         sqlite_template: Path) -> None:
    async for sqlite_env in _cards_env(tmp_path, sqlite_template, "203.0.113.7"):
        await _disabled(sqlite_env)


async def _disabled(sqlite_env: Env) -> None:
    response = await sqlite_env.http.post("/interaction/x/card/challenge", json={})
    assert response.status_code == 404
    discovery = (await sqlite_env.http.get("/.well-known/openid-configuration")).json()
    assert "scope_all" not in discovery["scopes_supported"]
    assert "SubjectNameID" not in discovery["claims_supported"]
    start = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params())
    page = await sqlite_env.http.get(start.headers["location"])
    assert "data-cards" not in page.text and "cards.js" not in page.text


async def test_tls_route_exists_only_when_tls_login_is_on(tmp_path: Path, sqlite_template: Path,
                                                          pki: GeneratedPki) -> None:
    async for env in _cards_env(tmp_path, sqlite_template, PROXY, **pki.env()):
        assert (await env.http.post("/interaction/x/card/tls")).status_code == 404
        assert (await env.http.post("/interaction/x/card/challenge", json={})).status_code == 403


async def test_discovery_announces_psc_scopes_and_claims(cards_env: Env) -> None:
    discovery = (await cards_env.http.get("/.well-known/openid-configuration")).json()
    assert {"scope_all", "rpps", "identity"} <= set(discovery["scopes_supported"])
    assert PSC_CLAIMS <= set(discovery["claims_supported"])
    assert "eidas3" in discovery["acr_values_supported"]


# --- full sign-in -------------------------------------------------------------------------------------------------

async def test_card_sign_in_gives_eidas3_and_psc_claims(cards_env: Env, card: VirtualCpsCard) -> None:
    page = await open_login_page(cards_env.http, acr_values="eidas3")
    assert 'data-agent-url="http://127.0.0.1:24365"' in page.html
    verified = await post_verify(cards_env.http, page, *(await _challenge_and_answer(cards_env, page, card)))
    assert verified.status_code == 200, verified.text
    assert verified.json()["redirect"] == f"/interaction/{page.uid}"
    assert "mandat_session" in verified.headers["set-cookie"]
    code = await code_after_sign_in(cards_env.http, verified)
    tokens, userinfo = await tokens_and_userinfo(cards_env.http, code, page.verifier, cards_env.auth())
    id_token = jwt_claims(tokens["id_token"])
    assert id_token["acr"] == "eidas3" and id_token["amr"] == ["sc", "pin", "hwk", "mfa"]
    assert PSC_CLAIMS <= set(userinfo)
    assert userinfo["SubjectNameID"] == userinfo["preferred_username"] == VALID_ID
    assert (userinfo["given_name"], userinfo["family_name"]) == ("CLAIRE", "MEDECIN")
    assert userinfo["SubjectRole"] == ["10^1.2.250.1.213.1.1.5.5"]
    assert userinfo["SubjectOrganizationID"] == "R10000000000001"
    assert userinfo["SubjectRefPro"]["exercices"][0]["activities"][0]["raisonSocialeSite"] \
        == "CABINET MEDICAL DE DEMONSTRATION"
    assert userinfo["authMode"] == "CARD"
    account = await cards_env.container.accounts.by_username(VALID_ID)
    assert account is not None and (account.kind, account.national_id) == ("professional", VALID_ID)
    assert [e.actor for e in await audited(cards_env, "cards:login:succeeded")] == [account.id]


async def test_second_sign_in_reuses_the_account(cards_env: Env, card: VirtualCpsCard) -> None:
    for _ in range(2):
        page = await open_login_page(cards_env.http, prompt="login")
        verified = await post_verify(cards_env.http, page, *(await _challenge_and_answer(cards_env, page, card)))
        assert verified.status_code == 200, verified.text
    async with cards_env.container.db.session() as session:
        rows = (await session.scalars(select(Account).where(Account.national_id == VALID_ID))).all()
    assert len(rows) == 1


async def test_rpps_scope_alone_gives_the_professional_record_not_the_names(cards_env: Env,
                                                                           card: VirtualCpsCard) -> None:
    page = await open_login_page(cards_env.http, scope="openid rpps")
    verified = await post_verify(cards_env.http, page, *(await _challenge_and_answer(cards_env, page, card)))
    code = await code_after_sign_in(cards_env.http, verified)
    _tokens, userinfo = await tokens_and_userinfo(cards_env.http, code, page.verifier, cards_env.auth())
    assert {"SubjectNameID", "SubjectRefPro", "SubjectRole"} <= set(userinfo)
    assert "given_name" not in userinfo


async def test_a_citizen_account_named_like_the_card_is_not_taken_over(cards_env: Env,
                                                                       card: VirtualCpsCard) -> None:
    await cards_env.add_account(username=VALID_ID)
    status, code, _message = await failure_code(cards_env, card)
    assert (status, code) == (403, "account_unavailable")


async def _challenge_and_answer(env: Env, page: Any, card: VirtualCpsCard) -> tuple[str, dict[str, Any]]:
    challenge = (await post_challenge(env.http, page)).json()["challenge"]
    return challenge, await signer(card)(challenge)


# --- CSRF and challenge binding ----------------------------------------------------------------------------------

async def test_challenge_without_csrf_header_is_refused(cards_env: Env) -> None:
    page = await open_login_page(cards_env.http)
    for csrf in ("", "0" * 64):
        response = await post_challenge(cards_env.http, page, csrf=csrf)
        assert (response.status_code, response.json()["error"]) == (403, "csrf_invalid")


async def test_verify_without_csrf_header_is_refused(cards_env: Env, card: VirtualCpsCard) -> None:
    page = await open_login_page(cards_env.http)
    challenge, answer = await _challenge_and_answer(cards_env, page, card)
    response = await post_verify(cards_env.http, page, challenge, answer, csrf="")
    assert (response.status_code, response.json()["error"]) == (403, "csrf_invalid")


async def test_challenge_is_single_use(cards_env: Env, card: VirtualCpsCard) -> None:
    page = await open_login_page(cards_env.http)
    challenge, answer = await _challenge_and_answer(cards_env, page, card)
    assert (await post_verify(cards_env.http, page, challenge, answer)).status_code == 200
    again = await open_login_page(cards_env.http, prompt="login")
    replay = await post_verify(cards_env.http, again, challenge, answer)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_challenge")


async def test_challenge_is_bound_to_its_interaction(cards_env: Env, card: VirtualCpsCard) -> None:
    first = await open_login_page(cards_env.http)
    second = await open_login_page(cards_env.http)
    challenge, answer = await _challenge_and_answer(cards_env, first, card)
    response = await post_verify(cards_env.http, second, challenge, answer)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_challenge")
    # Taken by the failed attempt: it cannot be used on its own interaction afterwards either.
    response = await post_verify(cards_env.http, first, challenge, answer)
    assert response.json()["error"] == "invalid_challenge"


async def test_unknown_interaction_is_expired(cards_env: Env) -> None:
    page = await open_login_page(cards_env.http)
    response = await cards_env.http.post("/interaction/nope/card/challenge", json={},
                                         headers={"x-csrf-token": page.csrf})
    assert (response.status_code, response.json()["error"]) == (400, "interaction_expired")


# --- each failure its own code, audited ----------------------------------------------------------------------

def _issuing_ca(pki: GeneratedPki) -> Any:
    return load_ca(pki.intermediates, pki.out_dir / "private" / "personnes.key.pem")


def _card_with(pki: GeneratedPki, national_id: str, **options: Any) -> VirtualCpsCard:
    key = new_rsa_key()
    cert = issue_card_certificate(_issuing_ca(pki), national_id, "TEST", "CARTE", key.public_key(), **options)
    return VirtualCpsCard(cert.public_bytes(serialization.Encoding.DER), key, PIN)


async def test_expired_certificate(cards_env: Env, pki: GeneratedPki) -> None:
    card = _card_with(pki, VALID_ID, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=400),
                      lifetime_days=365)
    cards_env.http.cookies.set("mandat_lang", "en")
    assert await failure_code(cards_env, card) == (400, "certificate_expired", "The card certificate has expired.")


async def test_revoked_certificate(cards_env: Env, revoked_card: VirtualCpsCard) -> None:
    assert (await failure_code(cards_env, revoked_card))[:2] == (400, "certificate_revoked")


async def test_unknown_ca(cards_env: Env) -> None:
    now = dt.datetime.now(dt.UTC)
    stranger = _make_ca("AC INCONNUE PERSONNES", _make_ca("AC RACINE INCONNUE", None, 1, now), 0, now)
    key = new_rsa_key()
    cert = issue_card_certificate(stranger, VALID_ID, "MEDECIN", "CLAIRE", key.public_key())
    card = VirtualCpsCard(cert.public_bytes(serialization.Encoding.DER), key, PIN)
    assert (await failure_code(cards_env, card))[:2] == (400, "unknown_ca")


async def test_look_alike_ca_is_a_bad_signature(cards_env: Env, other_pki: GeneratedPki) -> None:
    card = VirtualCpsCard.from_dir(other_pki.card_dirs[VALID_ID], PIN)
    assert (await failure_code(cards_env, card))[:2] == (400, "bad_signature")


async def test_not_in_directory(cards_env: Env, pki: GeneratedPki) -> None:
    outsider = national_id_from_rpps(rpps_with_check_digit("1000999999"))
    status, code, _ = await failure_code(cards_env, _card_with(pki, outsider))
    assert (status, code) == (403, "not_in_directory")
    assert await cards_env.container.accounts.by_username(outsider) is None


async def test_signature_for_another_idp_is_a_bad_signature(cards_env: Env, card: VirtualCpsCard) -> None:
    assert (await failure_code(cards_env, card, origin="https://evil.example"))[:2] \
        == (400, "bad_challenge_signature")


async def test_each_failure_is_audited_with_its_code(cards_env: Env, pki: GeneratedPki,
                                                     revoked_card: VirtualCpsCard, other_pki: GeneratedPki) -> None:
    await failure_code(cards_env, revoked_card)
    await failure_code(cards_env, VirtualCpsCard.from_dir(other_pki.card_dirs[VALID_ID], PIN))
    failures = await audited(cards_env, "cards:login:failed")
    assert [e.detail["error"] for e in failures] == ["certificate_revoked", "bad_signature"]
    assert all(e.ip == "203.0.113.7" and e.detail["path"] == "agent" for e in failures)


async def test_failure_messages_are_translated(cards_env: Env, revoked_card: VirtualCpsCard) -> None:
    cards_env.http.cookies.set("mandat_lang", "fr")
    assert (await failure_code(cards_env, revoked_card))[2] == "Le certificat de la carte a été révoqué."


# --- path B: certificate header from the TLS proxy ---------------------------------------------------------------

def _header(pki: GeneratedPki, national_id: str) -> str:
    return quote((pki.card_dirs[national_id] / "cert.pem").read_text(), safe="")


async def _tls_post(env: Env, header: str | None) -> tuple[Any, httpx.Response]:
    page = await open_login_page(env.http)
    csrf_token = page.html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    headers = {"X-SSL-Client-Cert": header} if header is not None else {}
    return page, await env.http.post(f"/interaction/{page.uid}/card/tls", data={"csrf_token": csrf_token},
                                     headers=headers)


async def test_spoofed_certificate_header_is_ignored_and_audited(cards_env: Env, pki: GeneratedPki) -> None:
    _page, response = await _tls_post(cards_env, _header(pki, VALID_ID))
    assert response.status_code == 400
    assert "pas présenté de certificat de carte" in response.text
    spoofed = await audited(cards_env, "cards:mtls:spoofed_header")
    assert [(e.ip, e.detail["header"]) for e in spoofed] == [("203.0.113.7", "X-SSL-Client-Cert")]
    assert await cards_env.container.accounts.by_username(VALID_ID) is None


@pytest.fixture
async def proxied_env(tmp_path: Path, sqlite_template: Path, pki: GeneratedPki) -> AsyncIterator[Env]:
    async for env in _cards_env(tmp_path, sqlite_template, PROXY, **pki.env(), MANDAT_CARDS_TLS_LOGIN="true",
                                MANDAT_TRUSTED_PROXIES=PROXY):
        await import_directory(env.container.db, pki.out_dir / "directory.txt", False)
        yield env


async def test_certificate_from_the_trusted_proxy_signs_in(proxied_env: Env, pki: GeneratedPki) -> None:
    page, response = await _tls_post(proxied_env, _header(pki, VALID_ID))
    assert (response.status_code, response.headers["location"]) == (303, f"/interaction/{page.uid}")
    assert await proxied_env.container.accounts.by_username(VALID_ID) is not None


async def test_revoked_certificate_from_the_proxy_is_refused(proxied_env: Env, pki: GeneratedPki) -> None:
    _page, response = await _tls_post(proxied_env, _header(pki, REVOKED_ID))
    assert response.status_code == 400 and "a été révoqué" in response.text
    assert [e.detail["error"] for e in await audited(proxied_env, "cards:login:failed")] == ["certificate_revoked"]


async def test_proxy_without_certificate_is_no_certificate(proxied_env: Env) -> None:
    _page, response = await _tls_post(proxied_env, None)
    assert response.status_code == 400 and "pas présenté de certificat de carte" in response.text
    assert await audited(proxied_env, "cards:mtls:spoofed_header") == []


async def test_claims_parameter_puts_psc_claims_in_the_id_token(cards_env: Env, card: VirtualCpsCard) -> None:
    page = await open_login_page(cards_env.http, claims='{"id_token": {"SubjectNameID": null, "SubjectRole": null}}')
    verified = await post_verify(cards_env.http, page, *(await _challenge_and_answer(cards_env, page, card)))
    code = await code_after_sign_in(cards_env.http, verified)
    tokens, _userinfo = await tokens_and_userinfo(cards_env.http, code, page.verifier, cards_env.auth())
    id_token = jwt_claims(tokens["id_token"])
    assert id_token["SubjectNameID"] == VALID_ID
    assert id_token["SubjectRole"] == ["10^1.2.250.1.213.1.1.5.5"]
    assert "SubjectRefPro" not in id_token  # only what was asked for
