"""Request, token, sign-in and readiness observations on the embedded backend (in-process metrics)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from idp.observability.metrics import grant_label
from tests.conftest import Env


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_requests_are_counted_by_route_template_and_tokens_by_grant(sqlite_env: Env) -> None:
    env = sqlite_env
    await env.add_account()
    await env.add_client()
    before = {
        "authorize": value("mandat_http_requests_total", route="/authorize", method="GET", status="303"),
        "interaction": value("mandat_http_requests_total", route="/interaction/{uid}", method="GET", status="200"),
        "tokens": value("mandat_tokens_issued_total", grant="authorization_code"),
        "login": value("mandat_authentications_total", method="password", outcome="succeeded"),
        "latency": value("mandat_http_request_duration_seconds_count", route="/token"),
        "unmatched": value("mandat_http_requests_total", route="unmatched", method="GET", status="404"),
    }
    await env.tokens_for()
    assert (await env.http.get("/no/such/page")).status_code == 404
    assert value("mandat_http_requests_total", route="/authorize", method="GET",
                 status="303") == before["authorize"] + 1
    assert value("mandat_http_requests_total", route="/interaction/{uid}", method="GET",
                 status="200") >= before["interaction"] + 1
    assert value("mandat_tokens_issued_total", grant="authorization_code") == before["tokens"] + 1
    assert value("mandat_authentications_total", method="password", outcome="succeeded") == before["login"] + 1
    assert value("mandat_http_request_duration_seconds_count", route="/token") == before["latency"] + 1
    assert value("mandat_http_requests_total", route="unmatched", method="GET", status="404") == before["unmatched"] + 1


async def test_failed_sign_ins_are_counted(sqlite_env: Env) -> None:
    env = sqlite_env
    await env.add_account()
    await env.add_client()
    before = value("mandat_authentications_total", method="password", outcome="failed")
    response = await env.http.get("/authorize", params=env.authorize_params())
    await env.login(response, password="wrong-password-123")
    assert value("mandat_authentications_total", method="password", outcome="failed") == before + 1


async def test_every_answer_carries_a_request_id(sqlite_env: Env) -> None:
    response = await sqlite_env.http.get("/healthz", headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len((await sqlite_env.http.get("/healthz")).headers["x-request-id"]) == 16


async def test_ready_on_the_embedded_backend_checks_the_database_only(sqlite_env: Env) -> None:
    response = await sqlite_env.http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_grant_labels_are_a_closed_set() -> None:
    assert grant_label("urn:ietf:params:oauth:grant-type:token-exchange") == "token_exchange"
    assert grant_label("client_credentials") == "client_credentials"
    assert grant_label("x" * 500) == "other"
