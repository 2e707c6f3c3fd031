"""Authorization endpoint: one named test per step of `AUTHORIZE_STEPS` and per branch of `decide`.

Errors before the client and its redirect_uri are trusted are shown on our page (never redirected); later
errors go back to the client with `state` and `iss` (RFC 9207).
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import update

from idp.accounts.models import Account
from tests.conftest import ISSUER, Env, pkce_pair
from tests.unit.oidc.flows import (
    assert_error_page,
    assert_redirected_error,
    authorize,
    browse,
    code_from,
    exchange,
    query_of,
    verified_claims,
)

# --- before the redirect target is trusted: our own error page --------------------------------------------


async def test_missing_client_id_is_an_error_page(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(client_id=None))
    assert_error_page(response, "client_id is missing")


async def test_unknown_client_id_is_an_error_page(sqlite_env: Env) -> None:
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params("nobody"))
    assert_error_page(response, "unknown client_id")


async def test_missing_redirect_uri_is_an_error_page(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(redirect_uri=None))
    assert_error_page(response, "redirect_uri is missing")


@pytest.mark.parametrize("redirect_uri", [
    "https://rp.example/cb/",            # trailing slash
    "https://rp.example/c",              # prefix
    "https://rp.example/cb/evil",        # suffix path
    "https://rp.example/cb?next=x",      # extra query
    "https://rp.example/cb#frag",        # fragment
    "https://rp.example.attacker.test/cb",
    "https://RP.example/cb",             # exact string match, not URL equivalence
    "http://rp.example/cb",
    "https://rp.example:443/cb",
])
async def test_redirect_uri_must_match_exactly_and_is_never_redirected(sqlite_env: Env, redirect_uri: str) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(redirect_uri=redirect_uri))
    assert_error_page(response, "redirect_uri is not registered for this client")


async def test_repeated_parameter_is_an_error_page(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    query = "&".join(f"{k}={v}" for k, v in sqlite_env.authorize_params().items()) + "&scope=openid"
    response = await sqlite_env.http.get(f"/authorize?{query}")
    assert_error_page(response, "parameter repeated: scope")


async def test_repeated_redirect_uri_is_an_error_page(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    params = [*sqlite_env.authorize_params().items(), ("redirect_uri", "https://attacker.test/cb")]
    response = await sqlite_env.http.get("/authorize", params=params)
    assert_error_page(response, "parameter repeated: redirect_uri")


# --- after: errors go back to the client --------------------------------------------------------------------


async def test_request_object_is_not_supported(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(request="e30.e30.x"))
    assert_redirected_error(response, "request_not_supported", "request objects are not supported")


async def test_request_uri_is_not_supported(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get(
        "/authorize", params=sqlite_env.authorize_params(request_uri="urn:ietf:params:oauth:request_uri:x"))
    assert_redirected_error(response, "request_uri_not_supported", "request_uri is not supported")


@pytest.mark.parametrize("mode", ["fragment", "query.jwt", "web_message"])
async def test_bad_response_mode(sqlite_env: Env, mode: str) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(response_mode=mode))
    assert_redirected_error(response, "invalid_request", "response_mode must be query or form_post")


async def test_missing_response_type(sqlite_env: Env) -> None:
    # RFC 6749 §4.1.2.1: a missing required parameter is invalid_request, not unsupported_response_type.
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(response_type=None))
    assert_redirected_error(response, "invalid_request", "response_type is missing")


@pytest.mark.parametrize("response_type", ["token", "code id_token", "id_token", "code token", "none"])
async def test_only_code_response_type(sqlite_env: Env, response_type: str) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get(
        "/authorize", params=sqlite_env.authorize_params(response_type=response_type))
    assert_redirected_error(response, "unsupported_response_type", "only response_type=code is supported")


async def test_client_without_authorization_code_grant(sqlite_env: Env) -> None:
    await sqlite_env.add_client(grant_types=("client_credentials",))
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params())
    assert_redirected_error(response, "unauthorized_client", "this client may not use the authorization code grant")


async def test_missing_scope(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(scope=None))
    assert_redirected_error(response, "invalid_scope", "scope is missing; it must include openid")


async def test_scope_without_openid(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(scope="profile email"))
    assert_redirected_error(response, "invalid_scope", "scope must include openid")


async def test_scope_not_allowed_for_client(sqlite_env: Env) -> None:
    await sqlite_env.add_client(scopes="openid profile")
    response = await sqlite_env.http.get(
        "/authorize", params=sqlite_env.authorize_params(scope="openid profile email admin"))
    assert_redirected_error(response, "invalid_scope", "scope not allowed for this client: email admin")


async def test_missing_code_challenge(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get(
        "/authorize", params=sqlite_env.authorize_params(code_challenge=None, code_challenge_method=None))
    assert_redirected_error(response, "invalid_request", "code_challenge is required (PKCE with S256)")


async def test_plain_code_challenge_method_is_refused(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    verifier, _ = pkce_pair()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(
        code_challenge=verifier[:43], code_challenge_method="plain"))
    assert_redirected_error(response, "invalid_request", "code_challenge_method must be S256; plain is not allowed")


async def test_missing_code_challenge_method(sqlite_env: Env) -> None:
    # No silent default to `plain` (RFC 7636 §4.3 would allow it; RFC 9700 §2.1.1 does not).
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(code_challenge_method=None))
    assert_redirected_error(response, "invalid_request", "code_challenge_method is required and must be S256")


@pytest.mark.parametrize("challenge", ["short", "a" * 42, "a" * 44, "+" * 43, "=" * 43])
async def test_malformed_code_challenge(sqlite_env: Env, challenge: str) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(code_challenge=challenge))
    assert_redirected_error(response, "invalid_request", "code_challenge must be 43 base64url characters (S256)")


async def test_overlong_parameter(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(nonce="n" * 2049))
    assert_redirected_error(response, "invalid_request", "nonce is too long")


async def test_unknown_prompt_value(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(prompt="login bogus"))
    assert_redirected_error(response, "invalid_request", "unsupported prompt value: bogus")


async def test_prompt_none_with_login(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(prompt="none login"))
    assert_redirected_error(response, "invalid_request", "prompt=none cannot be combined with other values")


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5", "9999999999"])
async def test_bad_max_age(sqlite_env: Env, max_age: str) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(max_age=max_age))
    assert_redirected_error(response, "invalid_request", "max_age must be a non-negative integer")


async def test_unknown_acr_values(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(acr_values="eidas1 loa4"))
    assert_redirected_error(response, "invalid_request",
                            "unsupported acr_values: loa4; use eidas1 eidas2 eidas3")


@pytest.mark.parametrize(("claims", "description"), [
    ("{not json", "claims must be a JSON object"),
    ("[]", "claims must be a JSON object with userinfo and/or id_token members"),
    ('{"access_token": {}}', "claims must be a JSON object with userinfo and/or id_token members"),
    ('{"userinfo": ["email"]}', "claims members must be JSON objects"),
])
async def test_bad_claims_parameter(sqlite_env: Env, claims: str, description: str) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(claims=claims))
    assert_redirected_error(response, "invalid_request", description)


async def test_error_without_state_has_no_state(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get(
        "/authorize", params=sqlite_env.authorize_params(state=None, response_type="token"))
    assert_redirected_error(response, "unsupported_response_type", "only response_type=code is supported",
                            state=None)


async def test_post_to_authorize_is_validated_the_same_way(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.post("/authorize", data=sqlite_env.authorize_params(scope="profile"))
    assert_redirected_error(response, "invalid_scope", "scope must include openid")


# --- decide: sessions, prompt, consent, step-up -----------------------------------------------------------


async def test_success_carries_code_state_and_iss(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    response, _ = await authorize(env)
    assert response.status_code == 303
    params = query_of(response.headers["location"])
    assert set(params) == {"code", "state", "iss"}
    assert params["state"] == "st-123"
    assert params["iss"] == ISSUER


async def test_prompt_none_without_session_is_login_required(env: Env) -> None:
    await env.add_client()
    response = await env.http.get("/authorize", params=env.authorize_params(prompt="none"))
    assert_redirected_error(response, "login_required", "the person must sign in")


async def test_prompt_none_needing_consent_is_consent_required(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    await code_from(env, scope="openid profile")
    response = await env.http.get("/authorize", params=env.authorize_params(prompt="none", scope="openid email"))
    assert_redirected_error(response, "consent_required", "the person must consent")


async def test_prompt_none_with_session_and_consent_answers_at_once(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    await code_from(env)
    response = await env.http.get("/authorize", params=env.authorize_params(prompt="none"))
    assert response.status_code == 302
    assert set(query_of(response.headers["location"])) == {"code", "state", "iss"}


async def test_form_post_renders_auto_post_form_limited_to_client_origin(env: Env) -> None:
    await env.add_client(redirect_uris=["https://rp.example:8443/cb"])
    await env.add_account()
    params = env.authorize_params(response_mode="form_post", redirect_uri="https://rp.example:8443/cb")
    response = await browse(env, await env.http.get("/authorize", params=params))
    assert response.status_code == 200
    assert "location" not in response.headers
    csp = response.headers["content-security-policy"]
    assert "form-action https://rp.example:8443;" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["cache-control"] == "no-store"
    assert 'action="https://rp.example:8443/cb"' in response.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', response.text))
    assert set(fields) == {"code", "state", "iss"}
    assert fields["iss"] == ISSUER and fields["state"] == "st-123"
    assert '<script src="/static/form_post.js" defer></script>' in response.text


async def test_form_post_error_is_posted_too(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get(
        "/authorize", params=sqlite_env.authorize_params(response_mode="form_post", prompt="none"))
    assert response.status_code == 200
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', response.text))
    assert fields == {"error": "login_required", "error_description": "the person must sign in", "iss": ISSUER,
                      "state": "st-123"}
    assert "form-action https://rp.example;" in response.headers["content-security-policy"]


async def test_form_post_escapes_state(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.get("/authorize", params=sqlite_env.authorize_params(
        response_mode="form_post", prompt="none", state='"><script>alert(1)</script>'))
    assert "<script>alert" not in response.text
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in response.text


async def test_session_and_consent_skip_both_pages(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    seen: list[str] = []
    await code_from(env, seen=seen)
    assert seen == ["login", "consent"]
    response = await env.http.get("/authorize", params=env.authorize_params())
    assert response.status_code == 302
    assert "code" in query_of(response.headers["location"])


async def test_consent_is_remembered_across_logins(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    await code_from(env)
    env.http.cookies.delete("mandat_session")
    seen: list[str] = []
    response, _ = await authorize(env, seen=seen)
    assert seen == ["login"]
    assert "code" in query_of(response.headers["location"])


async def test_consent_for_more_scopes_is_asked_again(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    await code_from(env, scope="openid profile")
    seen: list[str] = []
    await code_from(env, scope="openid profile email", seen=seen)
    assert seen == ["consent"]


async def test_prompt_consent_asks_again(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    await code_from(env)
    seen: list[str] = []
    await code_from(env, prompt="consent", seen=seen)
    assert seen == ["consent"]


async def test_first_party_client_skips_consent(env: Env) -> None:
    await env.add_client(first_party=True)
    await env.add_account()
    seen: list[str] = []
    await code_from(env, seen=seen)
    assert seen == ["login"]


async def test_consent_denied_is_access_denied(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    response, _ = await authorize(env, decision="deny")
    assert_redirected_error(response, "access_denied", "the person declined", status=303)
    # Nothing was remembered: the next authorization asks again.
    seen: list[str] = []
    await code_from(env, seen=seen)
    assert seen == ["consent"]


async def test_cancel_on_login_page_is_access_denied(sqlite_env: Env) -> None:
    env = sqlite_env
    await env.add_client()
    response = await env.http.get("/authorize", params=env.authorize_params())
    page = await env.http.get(response.headers["location"])
    uid = response.headers["location"].rsplit("/", 1)[1]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    cancelled = await env.http.post(f"/interaction/{uid}/cancel", data={"csrf_token": csrf.group(1)})
    assert_redirected_error(cancelled, "access_denied", "the person cancelled sign-in", status=303)


@pytest.mark.parametrize("force", [{"max_age": "0"}, {"prompt": "login"}])
async def test_max_age_zero_and_prompt_login_force_a_new_login(env: Env, force: dict[str, str]) -> None:
    await env.add_client()
    await env.add_account()
    first, verifier = await code_from(env)
    first_tokens = (await exchange(env, first, verifier)).json()
    first_sid = (await verified_claims(env, first_tokens["id_token"]))["sid"]
    seen: list[str] = []
    code, verifier = await code_from(env, seen=seen, **force)
    assert seen == ["login"]
    id_token = (await exchange(env, code, verifier)).json()["id_token"]
    assert (await verified_claims(env, id_token))["sid"] != first_sid


async def test_max_age_satisfied_by_a_recent_login(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    await code_from(env)
    response = await env.http.get("/authorize", params=env.authorize_params(max_age="3600"))
    assert response.status_code == 302
    assert "code" in query_of(response.headers["location"])


async def test_max_age_exceeded_forces_login(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    await code_from(env)
    provider = env.container.provider
    start = provider.clock()
    provider.clock = lambda: start + 120
    response = await env.http.get("/authorize", params=env.authorize_params(max_age="60"))
    assert response.status_code == 303 and response.headers["location"].startswith("/interaction/")


async def test_step_up_with_password_only_is_unmet(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    seen: list[str] = []
    response, _ = await authorize(env, acr_values="eidas2", seen=seen)
    assert_redirected_error(response, "unmet_authentication_requirements",
                            "the sign-in method does not reach the requested acr", status=303)
    # Refused before the consent page: nothing to agree to for a flow that cannot succeed.
    assert seen == ["login"]


async def test_step_up_with_essential_acr_claim_is_unmet(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    # eidas2: a password is offered (a security key could follow it), but alice holds none.
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["eidas2"]}}})
    response, _ = await authorize(env, claims=claims)
    assert_redirected_error(response, "unmet_authentication_requirements",
                            "the sign-in method does not reach the requested acr", status=303)


async def test_acr_values_met_by_password(env: Env) -> None:
    await env.add_client()
    await env.add_account()
    code, verifier = await code_from(env, acr_values="eidas1")
    id_token = (await exchange(env, code, verifier)).json()["id_token"]
    assert (await verified_claims(env, id_token))["acr"] == "eidas1"


async def test_disabled_account_session_is_not_reused(env: Env) -> None:
    await env.add_client()
    account_id = await env.add_account()
    await code_from(env)
    async with env.container.db.transaction() as session:
        await session.execute(update(Account).where(Account.id == account_id).values(status="disabled"))
    response = await env.http.get("/authorize", params=env.authorize_params(prompt="none"))
    assert_redirected_error(response, "login_required", "the person must sign in")


async def test_interaction_is_bound_to_the_browser(env: Env) -> None:
    await env.add_client()
    response = await env.http.get("/authorize", params=env.authorize_params())
    location = response.headers["location"]
    env.http.cookies.clear()
    page = await env.http.get(location)
    assert page.status_code == 400
    assert "<form" not in page.text
