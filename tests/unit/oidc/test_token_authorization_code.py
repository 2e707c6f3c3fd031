"""Token endpoint with the authorization_code grant: every check, the ID token and the access token."""

from __future__ import annotations

import base64
import hashlib

import pytest
from sqlalchemy import update

from idp.accounts.models import Account
from tests.conftest import ISSUER, REDIRECT, Env
from tests.unit.oidc.flows import (
    assert_invalid_token,
    assert_json_error,
    code_from,
    exchange,
    header_of,
    refresh,
    tokens,
    userinfo,
    verified_claims,
)


async def setup(env: Env) -> str:
    await env.add_client()
    return await env.add_account()


# --- request shape -------------------------------------------------------------------------------------------


async def test_get_on_token_is_refused(sqlite_env: Env) -> None:
    response = await sqlite_env.http.get("/token", params={"grant_type": "client_credentials"})
    assert response.status_code == 405
    assert response.json() == {"error": "invalid_request", "error_description": "method not allowed"}
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["allow"] == "POST"


async def test_non_form_body_is_refused(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.post("/token", json={"grant_type": "authorization_code"},
                                          auth=sqlite_env.auth())
    assert_json_error(response, "invalid_request", "the body must be application/x-www-form-urlencoded")


async def test_repeated_parameter(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.http.post(
        "/token", content="grant_type=authorization_code&code=a&code=b",
        headers={"content-type": "application/x-www-form-urlencoded"}, auth=sqlite_env.auth())
    assert_json_error(response, "invalid_request", "parameter repeated: code")


async def test_missing_grant_type(sqlite_env: Env) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.token({"code": "x"})
    assert_json_error(response, "invalid_request", "grant_type is missing")


@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"])
async def test_unsupported_grant_type(sqlite_env: Env, grant_type: str) -> None:
    await sqlite_env.add_client()
    response = await sqlite_env.token({"grant_type": grant_type, "username": "alice", "password": "x"})
    assert_json_error(response, "unsupported_grant_type", f"unsupported grant_type: {grant_type}")


async def test_client_not_allowed_the_grant(sqlite_env: Env) -> None:
    await sqlite_env.add_client(grant_types=("authorization_code",))
    response = await sqlite_env.token({"grant_type": "client_credentials"})
    assert_json_error(response, "unauthorized_client", "this client may not use the client_credentials grant")


# --- the code ----------------------------------------------------------------------------------------------


async def test_missing_code(env: Env) -> None:
    await setup(env)
    response = await env.token({"grant_type": "authorization_code", "redirect_uri": REDIRECT,
                                "code_verifier": "v" * 43})
    assert_json_error(response, "invalid_request", "code is missing")


async def test_unknown_code(env: Env) -> None:
    await setup(env)
    response = await exchange(env, "not-a-code", "v" * 43)
    assert_json_error(response, "invalid_grant", "authorization code is invalid")


async def test_replayed_code_revokes_what_it_issued(env: Env) -> None:
    await setup(env)
    code, verifier = await code_from(env)
    first = await exchange(env, code, verifier)
    assert first.status_code == 200
    issued = first.json()
    assert (await userinfo(env, issued["access_token"])).status_code == 200

    second = await exchange(env, code, verifier)
    assert_json_error(second, "invalid_grant",
                      "authorization code was already used; the tokens it issued are revoked")
    assert_invalid_token(await userinfo(env, issued["access_token"]))
    assert_json_error(await refresh(env, issued["refresh_token"]), "invalid_grant", "the grant was revoked")


async def test_expired_code(env: Env) -> None:
    await setup(env)
    code, verifier = await code_from(env)
    provider = env.container.provider
    start = provider.clock()
    provider.clock = lambda: start + 61
    response = await exchange(env, code, verifier)
    assert_json_error(response, "invalid_grant", "authorization code expired")


async def test_code_of_another_client(env: Env) -> None:
    await setup(env)
    await env.add_client("rp2")
    code, verifier = await code_from(env)
    response = await exchange(env, code, verifier, client_id="rp2")
    assert_json_error(response, "invalid_grant", "authorization code was issued to another client")


async def test_code_is_burnt_by_a_failed_attempt(env: Env) -> None:
    # Consumed before any other check: a thief who guesses wrong cannot let the owner's later use succeed
    # quietly, and the owner's later use is treated as a replay.
    await setup(env)
    await env.add_client("rp2")
    code, verifier = await code_from(env)
    await exchange(env, code, verifier, client_id="rp2")
    response = await exchange(env, code, verifier)
    assert_json_error(response, "invalid_grant",
                      "authorization code was already used; the tokens it issued are revoked")


async def test_redirect_uri_mismatch(env: Env) -> None:
    await setup(env)
    for redirect_uri in (None, "https://rp.example/cb/", "https://rp.example/other"):
        code, verifier = await code_from(env)
        data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
        if redirect_uri is not None:
            data["redirect_uri"] = redirect_uri
        response = await env.token(data)
        assert_json_error(response, "invalid_grant", "redirect_uri does not match the authorization request")


async def test_missing_code_verifier(env: Env) -> None:
    await setup(env)
    code, _ = await code_from(env)
    response = await env.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert_json_error(response, "invalid_grant", "code_verifier is required (PKCE)")


async def test_wrong_code_verifier(env: Env) -> None:
    await setup(env)
    code, verifier = await code_from(env)
    response = await exchange(env, code, verifier[::-1])
    assert_json_error(response, "invalid_grant", "code_verifier does not match the code_challenge")


async def test_malformed_code_verifier(env: Env) -> None:
    await setup(env)
    for verifier in ("short", "a" * 42, "a" * 129, "a" * 42 + "!", "é" * 43):
        code, _ = await code_from(env)
        response = await exchange(env, code, verifier)
        assert_json_error(response, "invalid_grant", "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]")


async def test_challenge_as_verifier_is_refused(env: Env) -> None:
    # `plain` in disguise: sending the challenge itself must not work.
    await setup(env)
    params = env.authorize_params()
    code, _ = await code_from(env, code_challenge=params["code_challenge"])
    response = await exchange(env, code, params["code_challenge"])
    assert_json_error(response, "invalid_grant", "code_verifier does not match the code_challenge")


async def test_account_disabled_between_authorize_and_token(env: Env) -> None:
    account_id = await setup(env)
    code, verifier = await code_from(env)
    async with env.container.db.transaction() as session:
        await session.execute(update(Account).where(Account.id == account_id).values(status="disabled"))
    response = await exchange(env, code, verifier)
    assert_json_error(response, "invalid_grant", "the account is no longer active")


# --- the response --------------------------------------------------------------------------------------------


async def test_token_responses_are_not_cached(env: Env) -> None:
    await setup(env)
    code, verifier = await code_from(env)
    ok = await exchange(env, code, verifier)
    failed = await exchange(env, code, verifier)
    for response in (ok, failed):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"
        assert response.headers["content-type"] == "application/json"
    body = ok.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "openid profile email"


async def test_id_token(env: Env) -> None:
    await setup(env)
    issued = await tokens(env, nonce="nonce-789")
    id_token = issued["id_token"]
    header = header_of(id_token)
    assert header["alg"] == "ES256"
    assert header["typ"] == "JWT"
    jwks = (await env.http.get("/jwks")).json()
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    claims = await verified_claims(env, id_token)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == "rp"
    assert claims["azp"] == "rp"
    assert claims["nonce"] == "nonce-789"
    assert claims["acr"] == "eidas1"
    assert claims["amr"] == ["pwd"]
    assert isinstance(claims["auth_time"], int) and claims["auth_time"] <= claims["iat"]
    assert claims["exp"] == claims["iat"] + 600
    assert isinstance(claims["sid"], str) and len(claims["sid"]) >= 16
    digest = hashlib.sha256(issued["access_token"].encode("ascii")).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


async def test_id_token_without_nonce_has_none(env: Env) -> None:
    await setup(env)
    issued = await tokens(env, nonce=None)
    assert "nonce" not in await verified_claims(env, issued["id_token"])


async def test_access_token_is_rfc9068(env: Env) -> None:
    await setup(env)
    issued = await tokens(env)
    header = header_of(issued["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    claims = await verified_claims(env, issued["access_token"])
    assert claims["iss"] == ISSUER
    assert claims["aud"] == ISSUER
    assert claims["client_id"] == "rp"
    assert claims["scope"] == "openid profile email"
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert claims["exp"] == claims["iat"] + 600
    assert claims["acr"] == "eidas1"
    id_claims = await verified_claims(env, issued["id_token"])
    assert claims["sub"] == id_claims["sub"]
    assert claims["auth_time"] == id_claims["auth_time"]


async def test_every_access_token_has_its_own_jti(env: Env) -> None:
    await setup(env)
    first = await tokens(env)
    second = await tokens(env)
    first_jti = (await verified_claims(env, first["access_token"]))["jti"]
    assert first_jti != (await verified_claims(env, second["access_token"]))["jti"]


async def test_no_refresh_token_without_the_grant(env: Env) -> None:
    await env.add_client(grant_types=("authorization_code",))
    await env.add_account()
    assert "refresh_token" not in await tokens(env)


# --- subjects ------------------------------------------------------------------------------------------------


async def subject(env: Env, client_id: str, redirect_uri: str) -> str:
    code, verifier = await code_from(env, client_id, redirect_uri=redirect_uri)
    response = await exchange(env, code, verifier, client_id, redirect_uri=redirect_uri)
    assert response.status_code == 200, response.text
    return str((await verified_claims(env, response.json()["id_token"]))["sub"])


async def test_pairwise_subjects_differ_between_sectors(env: Env) -> None:
    account_id = await env.add_account()
    await env.add_client("portal-a", redirect_uris=["https://a.example/cb"])
    await env.add_client("portal-b", redirect_uris=["https://b.example/cb"])
    sub_a = await subject(env, "portal-a", "https://a.example/cb")
    sub_b = await subject(env, "portal-b", "https://b.example/cb")
    assert sub_a != sub_b
    assert account_id not in (sub_a, sub_b)


async def test_pairwise_subject_is_stable_within_a_sector(env: Env) -> None:
    await env.add_account()
    await env.add_client("portal-a", redirect_uris=["https://a.example/cb"])
    await env.add_client("portal-a2", redirect_uris=["https://a.example/other/cb"])
    await env.add_client("portal-c", redirect_uris=["https://c.example/cb", "https://a-login.example/cb"],
                         sector_identifier="a.example")
    sub_a = await subject(env, "portal-a", "https://a.example/cb")
    assert await subject(env, "portal-a", "https://a.example/cb") == sub_a
    assert await subject(env, "portal-a2", "https://a.example/other/cb") == sub_a
    assert await subject(env, "portal-c", "https://c.example/cb") == sub_a


async def test_public_subject_is_the_account_id(env: Env) -> None:
    account_id = await env.add_account()
    await env.add_client("intranet", redirect_uris=["https://intranet.example/cb"], subject_type="public")
    assert await subject(env, "intranet", "https://intranet.example/cb") == account_id
