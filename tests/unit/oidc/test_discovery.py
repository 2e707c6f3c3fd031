"""Discovery metadata (OIDC Discovery 1.0, RFC 8414) and /jwks: only what is switched on, public keys only."""

from __future__ import annotations

from typing import Any

from tests.conftest import ISSUER, Env


async def metadata(env: Env) -> dict[str, Any]:
    response = await env.http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    body: dict[str, Any] = response.json()
    return body


async def test_required_fields(sqlite_env: Env) -> None:
    body = await metadata(sqlite_env)
    assert body["issuer"] == ISSUER
    for name, path in [("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                       ("userinfo_endpoint", "/userinfo"), ("jwks_uri", "/jwks"),
                       ("introspection_endpoint", "/token/introspect"), ("revocation_endpoint", "/token/revoke"),
                       ("end_session_endpoint", "/session/end")]:
        assert body[name] == ISSUER + path
    assert body["response_types_supported"] == ["code"]
    assert body["response_modes_supported"] == ["query", "form_post"]
    assert body["subject_types_supported"] == ["pairwise", "public"]
    assert body["id_token_signing_alg_values_supported"] == ["ES256"]
    assert body["authorization_response_iss_parameter_supported"] is True
    assert body["claims_parameter_supported"] is True
    assert {"openid", "profile", "email", "offline_access"} <= set(body["scopes_supported"])
    assert body["acr_values_supported"] == ["eidas1", "eidas2", "eidas3"]


async def test_pkce_s256_only(sqlite_env: Env) -> None:
    assert (await metadata(sqlite_env))["code_challenge_methods_supported"] == ["S256"]


async def test_no_implicit_or_password_grant(sqlite_env: Env) -> None:
    grants = (await metadata(sqlite_env))["grant_types_supported"]
    assert "implicit" not in grants and "password" not in grants
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(grants)


async def test_only_enabled_features(sqlite_env: Env) -> None:
    body = await metadata(sqlite_env)
    assert body["request_parameter_supported"] is False
    assert body["request_uri_parameter_supported"] is False
    # Features without a route are not announced.
    for absent in ("registration_endpoint", "device_authorization_endpoint"):
        assert absent not in body
    assert "none" not in body["token_endpoint_auth_signing_alg_values_supported"]
    assert not any(alg.startswith("HS") for alg in body["token_endpoint_auth_signing_alg_values_supported"])


async def test_every_announced_endpoint_exists(sqlite_env: Env) -> None:
    body = await metadata(sqlite_env)
    for name, url in body.items():
        if not (name.endswith("_endpoint") or name == "jwks_uri"):
            continue
        path = url.removeprefix(ISSUER)
        get = await sqlite_env.http.get(path)
        post = await sqlite_env.http.post(path, data={})
        assert 404 not in (get.status_code, post.status_code), name


async def test_jwks_has_public_keys_only(sqlite_env: Env) -> None:
    response = await sqlite_env.http.get("/jwks")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert "d" not in key
    assert key["kty"] == "EC" and key["crv"] == "P-256"
    assert key["alg"] == "ES256" and key["use"] == "sig"
    assert key["kid"]
    assert set(key) <= {"kty", "crv", "x", "y", "alg", "use", "kid"}
