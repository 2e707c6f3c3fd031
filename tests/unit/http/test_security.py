"""HTTP hardening: security headers, cookies, body limit, CSRF on every form, 303 after POST, page language."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from idp.app import create_app
from idp.http.cookies import CSRF, LANG, SESSION, wire_name
from idp.oidc import assurance
from idp.oidc.sessions import create_session
from idp.store import MemoryStore
from tests.conftest import PASSWORD, Env, form_field, make_settings
from tests.unit.oidc.flows import code_from, query_of

HTTPS_ISSUER = "https://idp.example"


@pytest.fixture
async def https_env(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Env]:
    """A provider whose issuer is not localhost: cookies must be Secure."""
    db_path = tmp_path / "mandat.db"
    shutil.copy(sqlite_template, db_path)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db_path}", MANDAT_ISSUER=HTTPS_ISSUER)
    store = MemoryStore()
    app = create_app(settings, store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=HTTPS_ISSUER, follow_redirects=False) as http:
            yield Env("sqlite+memory", settings, app, http, store)


def assert_security_headers(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


async def start_login(env: Env, **overrides: str) -> tuple[str, str]:
    """Open /authorize without a session; returns (interaction path, login page html)."""
    response = await env.http.get("/authorize", params=env.authorize_params(**overrides))
    assert response.status_code == 303
    location = response.headers["location"]
    page = await env.http.get(location)
    assert page.status_code == 200
    return location, page.text


def session_cookie(response: httpx.Response, *, secure: bool = False) -> str:
    name = wire_name(SESSION, secure=secure)
    cookies = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert len(cookies) == 1, response.headers
    return cookies[0]


# --- headers -------------------------------------------------------------------------------------------------


async def test_headers_on_pages(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    assert_security_headers(await sqlite_env.http.get("/"))
    location, _ = await start_login(sqlite_env)
    page = await sqlite_env.http.get(location)
    assert_security_headers(page)
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert_security_headers(await sqlite_env.http.get("/authorize"))  # error page
    assert_security_headers(await sqlite_env.http.get("/no-such-page"))


async def test_headers_on_json(sqlite_env: Env) -> None:
    for response in (await sqlite_env.http.get("/jwks"),
                     await sqlite_env.http.get("/.well-known/openid-configuration"),
                     await sqlite_env.http.post("/token", data={"grant_type": "client_credentials"}),
                     await sqlite_env.http.get("/userinfo")):
        assert response.headers["content-type"].startswith("application/json")
        assert_security_headers(response)


async def test_no_hsts_on_localhost_but_on_https(sqlite_env: Env, https_env: Env) -> None:
    assert "strict-transport-security" not in (await sqlite_env.http.get("/")).headers
    hsts = (await https_env.http.get("/")).headers["strict-transport-security"]
    assert hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 31536000


# --- cookies -------------------------------------------------------------------------------------------------


async def login(env: Env) -> httpx.Response:
    await env.add_client()
    await env.add_account()
    location, page = await start_login(env)
    response = await env.http.post(f"{location}/login", data={
        "csrf_token": form_field(page, "csrf_token"), "username": "alice", "password": PASSWORD})
    assert response.status_code == 303
    return response


async def test_session_cookie_on_localhost(sqlite_env: Env) -> None:
    cookie = session_cookie(await login(sqlite_env)).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie


async def test_session_cookie_is_secure_outside_localhost(https_env: Env) -> None:
    cookie = session_cookie(await login(https_env), secure=True).lower()
    assert cookie.startswith("__host-mandat_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie and "domain" not in cookie
    assert "; secure" in cookie


async def test_csrf_and_interaction_cookies(https_env: Env) -> None:
    await https_env.add_client()
    response = await https_env.http.get("/authorize", params=https_env.authorize_params())
    interaction = response.headers["set-cookie"].lower()
    assert interaction.startswith("mandat_ia_")
    assert "httponly" in interaction and "samesite=lax" in interaction and "; secure" in interaction
    assert f"path={response.headers['location'].lower()}" in interaction
    page = await https_env.http.get(response.headers["location"])
    csrf = page.headers["set-cookie"].lower()
    assert csrf.startswith("__host-mandat_csrf=")
    assert "httponly" in csrf and "samesite=strict" in csrf and "; secure" in csrf and "path=/" in csrf


# --- body limit ----------------------------------------------------------------------------------------------


async def test_body_over_the_limit_is_413(sqlite_env: Env) -> None:
    body = "grant_type=client_credentials&pad=" + "x" * sqlite_env.settings.max_body_bytes
    response = await sqlite_env.http.post("/token", content=body,
                                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert response.json() == {"error": "invalid_request", "error_description": "request body too large"}
    assert_security_headers(response)


async def test_streamed_body_over_the_limit_is_413(sqlite_env: Env) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"grant_type=client_credentials&pad="
        for _ in range(20):
            yield b"x" * 8192

    response = await sqlite_env.http.post("/token", content=chunks(),
                                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error_description"] == "request body too large"


async def test_body_at_the_limit_is_read(sqlite_env: Env) -> None:
    prefix = "grant_type=client_credentials&pad="
    body = prefix + "x" * (sqlite_env.settings.max_body_bytes - len(prefix))
    response = await sqlite_env.http.post("/token", content=body,
                                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401  # got past the limit to client authentication


# --- CSRF and 303 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "0" * 64, "short"])
async def test_login_without_valid_csrf_is_refused(sqlite_env: Env, token: str | None) -> None:
    await sqlite_env.add_client()
    await sqlite_env.add_account()
    location, _ = await start_login(sqlite_env)
    data = {"username": "alice", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = await sqlite_env.http.post(f"{location}/login", data=data)
    assert response.status_code == 403
    assert SESSION not in response.headers.get("set-cookie", "")
    # Still on the login page: nothing happened.
    assert 'action="' + location + '/login"' in (await sqlite_env.http.get(location)).text


async def test_csrf_token_of_another_browser_is_refused(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    await sqlite_env.add_account()
    _, other_page = await start_login(sqlite_env)
    foreign_token = form_field(other_page, "csrf_token")
    sqlite_env.http.cookies.delete(CSRF)
    location, _ = await start_login(sqlite_env)  # new CSRF cookie for this browser
    response = await sqlite_env.http.post(f"{location}/login", data={
        "csrf_token": foreign_token, "username": "alice", "password": PASSWORD})
    assert response.status_code == 403


FORM_EXPIRED_FR = "Le formulaire a expiré"
CSRF_JSON_EN = {"error": "csrf_invalid",
                "message": "For your security, this page has expired. Reload it and try again."}


async def signed_in_page(env: Env) -> tuple[str, str]:
    """Sign in (session S1), open the consent page; returns (interaction path, its CSRF token)."""
    await login(env)
    location = (await env.http.get("/authorize", params=env.authorize_params())).headers["location"]
    page = await env.http.get(location)
    assert "/consent" in page.text
    return location, form_field(page.text, "csrf_token")


async def another_session(env: Env) -> str:
    account = await env.container.accounts.by_username("alice")
    assert account is not None
    return (await create_session(env.container.provider, account.id, assurance.password())).token


async def test_csrf_token_minted_for_another_session_is_refused(sqlite_env: Env) -> None:
    """Planted cookie: the pair (cookie A, token) minted with session S1 does not work with session S2."""
    env = sqlite_env
    location, token_s1 = await signed_in_page(env)
    env.http.cookies.set(SESSION, await another_session(env))  # same CSRF cookie A, session S2
    response = await env.http.post(f"{location}/consent", data={"csrf_token": token_s1, "decision": "allow"})
    assert response.status_code == 403
    assert f"<h1>{FORM_EXPIRED_FR}</h1>" in response.text
    assert "Pour votre sécurité, un formulaire n&#39;est valable que pour une visite." in response.text
    account = await env.container.accounts.by_username("alice")
    assert account is not None
    assert await env.container.accounts.granted_scopes(account.id, "rp") == frozenset()


async def test_csrf_header_minted_for_another_session_is_refused(sqlite_env: Env) -> None:
    """The JSON variant (X-CSRF-Token on the security-key registration call) answers its exact JSON error."""
    env = sqlite_env
    _, token_s1 = await signed_in_page(env)
    headers = {"x-csrf-token": token_s1, "accept-language": "en", "content-type": "application/json"}
    assert (await env.http.post("/account/passkeys/options", headers=headers, content=b"{}")).status_code == 200
    env.http.cookies.set(SESSION, await another_session(env))
    response = await env.http.post("/account/passkeys/options", headers=headers, content=b"{}")
    assert response.status_code == 403
    assert response.json() == CSRF_JSON_EN


async def test_session_less_token_is_refused_once_signed_in(sqlite_env: Env) -> None:
    """A token minted before sign-in (the pair an attacker gets from a visit without a session) does not
    authorise actions of a signed-in session."""
    env = sqlite_env
    await env.add_client()
    await env.add_account()
    location, page = await start_login(env)
    anonymous_token = form_field(page, "csrf_token")
    assert (await env.http.post(f"{location}/login", data={
        "csrf_token": anonymous_token, "username": "alice", "password": PASSWORD})).status_code == 303
    response = await env.http.post(f"{location}/consent", data={"csrf_token": anonymous_token, "decision": "allow"})
    assert response.status_code == 403
    assert FORM_EXPIRED_FR in response.text


async def test_login_form_rendered_before_a_sign_in_in_another_tab_still_works(sqlite_env: Env) -> None:
    env = sqlite_env
    await env.add_client()
    await env.add_account()
    first_tab, first_page = await start_login(env)
    second_tab, second_page = await start_login(env)
    signed = await env.http.post(f"{second_tab}/login", data={
        "csrf_token": form_field(second_page, "csrf_token"), "username": "alice", "password": PASSWORD})
    assert signed.status_code == 303 and SESSION in env.http.cookies
    again = await env.http.post(f"{first_tab}/login", data={
        "csrf_token": form_field(first_page, "csrf_token"), "username": "alice", "password": PASSWORD})
    assert again.status_code == 303
    # Right after sign-in the next page carries a token for the new session, and its form works.
    consent_page = await env.http.get(again.headers["location"])
    answered = await env.http.post(f"{first_tab}/consent", data={
        "csrf_token": form_field(consent_page.text, "csrf_token"), "decision": "allow"})
    assert answered.status_code == 303
    assert "code" in query_of(answered.headers["location"])


async def test_host_prefixed_cookie_names_over_https(https_env: Env) -> None:
    env = https_env
    response = await login(env)
    names = {c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")}
    assert "__Host-mandat_session" in names
    assert wire_name(SESSION, secure=True) == "__Host-mandat_session"
    assert wire_name(CSRF, secure=True) == "__Host-mandat_csrf"
    assert wire_name(LANG, secure=True) == "__Host-mandat_lang"
    assert wire_name(SESSION, secure=False) == "mandat_session"
    assert set(env.http.cookies.keys()) >= {"__Host-mandat_session", "__Host-mandat_csrf"}
    assert not {SESSION, CSRF} & set(env.http.cookies.keys())
    lang = (await env.http.get("/?lang=en")).headers.get_list("set-cookie")
    assert [c for c in lang if c.startswith("__Host-mandat_lang=en;") and "; Secure" in c and "Path=/" in c]
    # The flow goes on with the prefixed cookies: the consent page and its form work.
    consent_page = await env.http.get(response.headers["location"])
    assert consent_page.status_code == 200, consent_page.text
    location = response.headers["location"]
    answered = await env.http.post(f"{location}/consent", data={
        "csrf_token": form_field(consent_page.text, "csrf_token"), "decision": "allow"})
    assert answered.status_code == 303


async def test_unprefixed_cookie_planted_over_https_is_ignored(https_env: Env) -> None:
    """A sibling domain can set `mandat_csrf` (Domain=parent) but not `__Host-mandat_csrf`: the former is dropped."""
    env = https_env
    await env.add_client()
    await env.add_account()
    location, page = await start_login(env)
    attacker_cookie = env.http.cookies["__Host-mandat_csrf"]
    token = form_field(page, "csrf_token")
    env.http.cookies.clear()
    env.http.cookies.set(CSRF, attacker_cookie, domain="idp.example")  # tossed, unprefixed
    location, _ = await start_login(env)
    response = await env.http.post(f"{location}/login", data={
        "csrf_token": token, "username": "alice", "password": PASSWORD})
    assert response.status_code == 403


async def test_logout_deletes_the_prefixed_session_cookie(https_env: Env) -> None:
    env = https_env
    await login(env)
    page = await env.http.get("/session/end")
    response = await env.http.post("/session/end", data={"csrf_token": form_field(page.text, "csrf_token"),
                                                        "confirm": "1"})
    assert response.status_code == 200, response.text
    deleted = [c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-mandat_session=")]
    assert deleted and "; Secure" in deleted[0] and "Path=/" in deleted[0]
    assert "__Host-mandat_session" not in env.http.cookies


async def test_consent_without_csrf_is_refused_and_nothing_remembered(sqlite_env: Env) -> None:
    env = sqlite_env
    await login(env)  # signed in; the consent page comes next
    location = (await env.http.get("/authorize", params=env.authorize_params())).headers["location"]
    page = await env.http.get(location)
    assert "/consent" in page.text
    for data in ({"decision": "allow"}, {"decision": "allow", "csrf_token": "0" * 64}):
        response = await env.http.post(f"{location}/consent", data=data)
        assert response.status_code == 403
    account = await env.container.accounts.by_username("alice")
    assert account is not None
    assert await env.container.accounts.granted_scopes(account.id, "rp") == frozenset()


async def test_post_answers_are_303(sqlite_env: Env) -> None:
    env = sqlite_env
    await env.add_client()
    await env.add_account()
    location, page = await start_login(env)
    signed = await env.http.post(f"{location}/login", data={
        "csrf_token": form_field(page, "csrf_token"), "username": "alice", "password": PASSWORD})
    assert signed.status_code == 303
    consent_page = await env.http.get(signed.headers["location"])
    answered = await env.http.post(f"{location}/consent", data={
        "csrf_token": form_field(consent_page.text, "csrf_token"), "decision": "allow"})
    assert answered.status_code == 303
    assert "code" in query_of(answered.headers["location"])
    location, page = await start_login(env, prompt="login")
    cancelled = await env.http.post(f"{location}/cancel", data={"csrf_token": form_field(page, "csrf_token")})
    assert cancelled.status_code == 303


# --- language ------------------------------------------------------------------------------------------------


def language(response: httpx.Response) -> str:
    match = re.search(r'<html lang="(\w+)">', response.text)
    assert match
    assert response.headers["content-language"] == match.group(1)
    return match.group(1)


async def test_pages_are_in_french_by_default(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    error = await sqlite_env.http.get("/authorize")
    assert language(error) == "fr"
    assert "Ce lien de connexion n&#39;est pas valide" in error.text
    location, _ = await start_login(sqlite_env)
    page = await sqlite_env.http.get(location)
    assert language(page) == "fr"
    assert "Mot de passe" in page.text


async def test_ui_locales_en(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    location, _ = await start_login(sqlite_env, ui_locales="en-GB fr")
    page = await sqlite_env.http.get(location)
    assert language(page) == "en"
    assert "Password" in page.text


async def test_accept_language_en(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    sqlite_env.http.headers["accept-language"] = "en-US,en;q=0.9"
    error = await sqlite_env.http.get("/authorize")
    assert language(error) == "en"
    assert "This sign-in link is not valid" in error.text
    location, _ = await start_login(sqlite_env)
    assert language(await sqlite_env.http.get(location)) == "en"


async def test_code_flow_still_works_over_https(https_env: Env) -> None:
    await https_env.add_client()
    await https_env.add_account()
    code, _ = await code_from(https_env)
    assert code
