"""Client authentication at the token endpoint (RFC 6749 §2.3.1, OIDC Core §9, RFC 7523)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from idp.clients.service import ClientRegistrationError
from tests.conftest import ISSUER, Env
from tests.unit.oidc.flows import assert_json_error, code_from

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CC = {"grant_type": "client_credentials"}


def assert_invalid_client(response: Any, description: str = "client authentication failed") -> None:
    assert_json_error(response, "invalid_client", description, status=401)
    assert response.headers["www-authenticate"] == 'Basic realm="mandat"'


# --- secrets -------------------------------------------------------------------------------------------------


async def test_client_secret_basic(env: Env) -> None:
    secret = await env.add_client("svc", grant_types=("client_credentials",), scopes="api")
    assert secret is not None
    response = await env.http.post("/token", data=CC, auth=("svc", secret))
    assert response.status_code == 200, response.text


async def test_client_secret_basic_is_form_urlencoded(env: Env) -> None:
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before base64, so ":" in an id survives.
    secret = await env.add_client("urn:svc", grant_types=("client_credentials",), scopes="api")
    assert secret is not None
    response = await env.http.post("/token", data=CC, auth=("urn%3Asvc", secret))
    assert response.status_code == 200, response.text


async def test_client_secret_basic_wrong_secret(env: Env) -> None:
    await env.add_client("svc", grant_types=("client_credentials",), scopes="api")
    response = await env.http.post("/token", data=CC, auth=("svc", "wrong"))
    assert_invalid_client(response)


async def test_client_secret_basic_unknown_client_answers_alike(env: Env) -> None:
    await env.add_client("svc", grant_types=("client_credentials",), scopes="api")
    unknown = await env.http.post("/token", data=CC, auth=("ghost", "wrong"))
    wrong = await env.http.post("/token", data=CC, auth=("svc", "wrong"))
    assert_invalid_client(unknown)
    assert unknown.content == wrong.content


async def test_malformed_basic_header(sqlite_env: Env) -> None:
    response = await sqlite_env.http.post("/token", data=CC, headers={"authorization": "Basic !!!"})
    assert_invalid_client(response, "malformed Basic authorization header")


async def test_basic_when_registered_for_post(env: Env) -> None:
    secret = await env.add_client("svc", auth_method="client_secret_post", grant_types=("client_credentials",),
                                  scopes="api")
    assert secret is not None
    response = await env.http.post("/token", data=CC, auth=("svc", secret))
    assert_invalid_client(response)


async def test_client_secret_post(env: Env) -> None:
    secret = await env.add_client("svc", auth_method="client_secret_post", grant_types=("client_credentials",),
                                  scopes="api")
    assert secret is not None
    response = await env.http.post("/token", data={**CC, "client_id": "svc", "client_secret": secret})
    assert response.status_code == 200, response.text


async def test_post_when_registered_for_basic(env: Env) -> None:
    secret = await env.add_client("svc", grant_types=("client_credentials",), scopes="api")
    assert secret is not None
    response = await env.http.post("/token", data={**CC, "client_id": "svc", "client_secret": secret})
    # No Basic header was sent, but a 401 always names a scheme (RFC 9110 §15.5.2).
    assert_invalid_client(response)


async def test_two_methods_at_once(env: Env) -> None:
    secret = await env.add_client("svc", grant_types=("client_credentials",), scopes="api")
    assert secret is not None
    response = await env.http.post("/token", data={**CC, "client_secret": secret}, auth=("svc", secret))
    assert_json_error(response, "invalid_request", "use exactly one client authentication method")


async def test_basic_and_other_client_id_in_body(env: Env) -> None:
    secret = await env.add_client("svc", grant_types=("client_credentials",), scopes="api")
    assert secret is not None
    response = await env.http.post("/token", data={**CC, "client_id": "other"}, auth=("svc", secret))
    assert_json_error(response, "invalid_request", "client_id does not match the Authorization header")


async def test_no_authentication_at_all(sqlite_env: Env) -> None:
    response = await sqlite_env.http.post("/token", data=CC)
    assert_invalid_client(response, "client authentication is missing")


async def test_confidential_client_without_its_secret(env: Env) -> None:
    await env.add_client("svc", grant_types=("client_credentials",), scopes="api")
    response = await env.http.post("/token", data={**CC, "client_id": "svc"})
    assert_invalid_client(response)


# --- public clients -------------------------------------------------------------------------------------------


async def test_public_client_with_pkce_only(env: Env) -> None:
    await env.add_client("spa", auth_method="none")
    await env.add_account()
    code, verifier = await code_from(env, "spa")
    response = await env.http.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "https://rp.example/cb",
        "code_verifier": verifier, "client_id": "spa"})
    assert response.status_code == 200, response.text


async def test_public_client_with_a_secret_is_refused(env: Env) -> None:
    await env.add_client("spa", auth_method="none")
    response = await env.http.post("/token", data={**CC, "client_id": "spa", "client_secret": "x"})
    assert_invalid_client(response)


async def test_public_client_cannot_register_client_credentials(env: Env) -> None:
    with pytest.raises(ClientRegistrationError, match=r"^public clients cannot use client_credentials$"):
        await env.add_client("spa", auth_method="none", grant_types=("authorization_code", "client_credentials"))


async def test_public_client_cannot_use_client_credentials(env: Env) -> None:
    await env.add_client("spa", auth_method="none")
    response = await env.http.post("/token", data={**CC, "client_id": "spa"})
    assert_json_error(response, "unauthorized_client", "this client may not use the client_credentials grant")


# --- private_key_jwt -----------------------------------------------------------------------------------------


class Signer:
    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", auto_kid=True)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self.key.as_dict(private=False), "alg": "ES256", "use": "sig"}]}

    def assertion(self, client_id: str = "jwt-svc", **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": ISSUER, "iat": now, "exp": now + 60,
                                  "jti": secrets.token_urlsafe(16)}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode({"alg": "ES256", "kid": self.key.kid}, claims, self.key, algorithms=["ES256"])


@pytest.fixture
def signer() -> Signer:
    return Signer()


async def jwt_client(env: Env, signer: Signer) -> None:
    await env.add_client("jwt-svc", auth_method="private_key_jwt", grant_types=("client_credentials",),
                         scopes="api", jwks=signer.jwks())


async def with_assertion(env: Env, assertion: str, **extra: str) -> Any:
    return await env.http.post("/token", data={**CC, "client_assertion_type": JWT_BEARER,
                                               "client_assertion": assertion, **extra})


async def test_private_key_jwt(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    response = await with_assertion(env, signer.assertion(), client_id="jwt-svc")
    assert response.status_code == 200, response.text


AUD_REFUSED = "client_assertion aud must be the issuer identifier, alone"


async def test_private_key_jwt_issuer_audience_accepted(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    for aud in (ISSUER, [ISSUER]):
        response = await with_assertion(env, signer.assertion(aud=aud))
        assert response.status_code == 200, response.text


async def test_private_key_jwt_token_endpoint_audience_refused(env: Env, signer: Signer) -> None:
    """draft-ietf-oauth-rfc7523bis: the audience is the issuer identifier, never an endpoint URL."""
    await jwt_client(env, signer)
    for aud in (f"{ISSUER}/token", [f"{ISSUER}/token"]):
        response = await with_assertion(env, signer.assertion(aud=aud))
        assert_invalid_client(response, AUD_REFUSED)


async def test_private_key_jwt_audience_array_with_a_foreign_value_refused(env: Env, signer: Signer) -> None:
    """The 2025 audience-injection disclosure: an assertion also addressed to someone else is not ours."""
    await jwt_client(env, signer)
    for aud in ([ISSUER, "https://evil.example"], ["https://evil.example", ISSUER], [ISSUER, ISSUER]):
        response = await with_assertion(env, signer.assertion(aud=aud))
        assert_invalid_client(response, AUD_REFUSED)


async def test_private_key_jwt_signed_by_another_key(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    response = await with_assertion(env, Signer().assertion())
    assert_invalid_client(response, "client_assertion signature is invalid")


async def test_private_key_jwt_wrong_audience(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    wrong: list[Any] = ["https://other.example", f"{ISSUER}/userinfo", f"{ISSUER}/", None, [], 42]
    for aud in wrong:
        response = await with_assertion(env, signer.assertion(aud=aud))
        assert_invalid_client(response, AUD_REFUSED)


async def test_private_key_jwt_replayed_jti(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    assertion = signer.assertion()
    assert (await with_assertion(env, assertion)).status_code == 200
    assert_invalid_client(await with_assertion(env, assertion), "client_assertion was already used (jti replay)")


async def test_private_key_jwt_missing_jti(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    response = await with_assertion(env, signer.assertion(jti=None))
    assert_invalid_client(response, "client_assertion jti is required")


async def test_private_key_jwt_expired(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    now = int(time.time())
    response = await with_assertion(env, signer.assertion(iat=now - 120, exp=now - 60))
    assert_invalid_client(response, "client_assertion is expired or has no exp")


async def test_private_key_jwt_without_exp(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    response = await with_assertion(env, signer.assertion(exp=None))
    assert_invalid_client(response, "client_assertion is expired or has no exp")


async def test_private_key_jwt_lifetime_too_long(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    response = await with_assertion(env, signer.assertion(exp=int(time.time()) + 600))
    assert_invalid_client(response, "client_assertion exp must be within 300 s")


async def test_private_key_jwt_iss_differs_from_sub(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    response = await with_assertion(env, signer.assertion(sub="someone-else"))
    assert_invalid_client(response, "client_assertion iss and sub must both be the client_id")


async def test_private_key_jwt_wrong_assertion_type(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    response = await env.http.post("/token", data={
        **CC, "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        "client_assertion": signer.assertion()})
    assert_invalid_client(response, f"client_assertion_type must be {JWT_BEARER}")


async def test_private_key_jwt_client_id_mismatch(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    response = await with_assertion(env, signer.assertion(), client_id="other")
    assert_invalid_client(response, "client_id does not match the assertion issuer")


async def test_private_key_jwt_garbage(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    assert_invalid_client(await with_assertion(env, "not.a-jwt"), "client_assertion is not a valid JWT")


async def test_private_key_jwt_alg_none_is_refused(env: Env, signer: Signer) -> None:
    await jwt_client(env, signer)
    signed = signer.assertion().split(".")
    unsigned_header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    response = await with_assertion(env, f"{unsigned_header}.{signed[1]}.")
    assert_invalid_client(response, "client_assertion signature is invalid")


async def test_secret_client_cannot_use_an_assertion(env: Env, signer: Signer) -> None:
    await env.add_client("jwt-svc", grant_types=("client_credentials",), scopes="api")
    response = await with_assertion(env, signer.assertion())
    assert_invalid_client(response)
