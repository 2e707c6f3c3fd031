"""The two-process topology (nginx + 2 × `python -m idp serve` + PostgreSQL + Redis, all real processes): a full
code flow with each step on the other process, key rotation reaching the other process, metrics per process,
and the logs of the whole run free of every secret the tests used.

Fault tests are in test_faults.py; both share the module-scoped topology of their own module.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import httpx

from tests.conftest import REDIRECT
from tests.e2e.production.components import IdpProcess
from tests.e2e.production.conftest import Topology, assert_no_secrets_in_logs, metric
from tests.e2e.production.flows import Flow, jwt_part


async def metrics_of(port: int) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        return (await http.get(f"http://127.0.0.1:{port}/metrics")).text


def client(topology: Topology) -> httpx.AsyncClient:
    return topology.client()


async def test_every_step_of_a_code_flow_on_the_other_process(topology: Topology) -> None:
    async with client(topology) as http:
        flow = Flow(http, topology.client_secret)
        code, verifier = await flow.code(pins=[1, 2, 1, 2, 1])
        tokens = await flow.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                   "code_verifier": verifier}, pin=2)
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        userinfo = await flow.request("userinfo", "GET", "/userinfo", 1,
                                      headers={"authorization": f"Bearer {body['access_token']}"})
        assert userinfo.status_code == 200 and userinfo.json()["sub"] == jwt_part(body["id_token"], 1)["sub"]
        refreshed = await flow.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, pin=2,
                                     name="refresh")
        assert refreshed.status_code == 200, refreshed.text
        introspected = await flow.request("introspect", "POST", "/token/introspect", 1,
                                          auth=("rp", topology.client_secret),
                                          data={"token": refreshed.json()["access_token"]})
        assert introspected.status_code == 200 and introspected.json()["active"] is True
        jwks = (await flow.request("jwks", "GET", "/jwks", 2)).json()
        assert jwt_part(body["id_token"], 0)["kid"] in {k["kid"] for k in jwks["keys"]}
        # Balanced (no pin): both processes serve.
        seen = {(await flow.request("balanced", "GET", "/healthz", None)).headers["x-mandat-upstream"]
                for _ in range(6)}
    topology.secrets |= flow.secrets
    for step in flow.steps:
        if step.pin is not None:
            assert step.upstream == topology.upstream(step.pin), step
    pinned = [step.pin for step in flow.steps if step.pin is not None]
    assert all(a != b for a, b in itertools.pairwise(pinned)), "two steps in a row on one process"
    assert seen == {topology.upstream(1), topology.upstream(2)}
    # Each process counted its own steps (metrics are per `serve`, on their own bind address).
    first, second = [await metrics_of(idp.metrics_port) for idp in topology.idps]
    assert metric(first, "mandat_http_requests_total", route="/authorize", status="303") >= 1
    assert metric(first, "mandat_http_requests_total", route="/token") == 0
    assert metric(second, "mandat_tokens_issued_total", grant="authorization_code") >= 1
    assert metric(second, "mandat_tokens_issued_total", grant="refresh_token") >= 1
    assert metric(first, "mandat_authentications_total", method="password", outcome="succeeded") >= 1
    assert metric(second, "mandat_http_request_duration_seconds_count", route="/token") >= 2
    # The public port does not serve metrics.
    async with client(topology) as http:
        assert (await http.get("/metrics")).status_code == 404


async def test_readiness_and_liveness(topology: Topology) -> None:
    async with client(topology) as http:
        for pin in (1, 2):
            ready = await http.get("/readyz", headers={"x-mandat-pin": str(pin)})
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
            assert (await http.get("/healthz", headers={"x-mandat-pin": str(pin)})).status_code == 200


async def test_a_key_rotated_on_one_host_is_used_by_the_other_without_restart(topology: Topology) -> None:
    async def current_kid(pin: int) -> tuple[str, set[str]]:
        async with client(topology) as http:
            token = await http.post("/token", headers={"x-mandat-pin": str(pin)}, auth=("m2m", topology.m2m_secret),
                                    data={"grant_type": "client_credentials"})
            assert token.status_code == 200, token.text
            topology.secrets.add(token.json()["access_token"])
            jwks = await http.get("/jwks", headers={"x-mandat-pin": str(pin)})
        return jwt_part(token.json()["access_token"], 0)["kid"], {k["kid"] for k in jwks.json()["keys"]}

    before = {pin: await current_kid(pin) for pin in (1, 2)}
    assert before[1][0] == before[2][0]
    rotated = topology.cli("keys", "rotate", "--delay", "0")  # as an operator would, on any host of the folder
    assert rotated.returncode == 0, rotated.stderr
    deadline = time.monotonic() + 10
    while True:
        after = {pin: await current_kid(pin) for pin in (1, 2)}
        if all(kid != before[1][0] for kid, _ in after.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    # MANDAT_KEYS_RELOAD_SECONDS=1 here: both processes sign with the new key within seconds, and still publish
    # the old one for the tokens it signed.
    for kid, published in after.values():
        assert kid != before[1][0]
        assert {kid, before[1][0]} <= published
    assert after[1][0] == after[2][0]


async def test_logs_are_json_lines_with_request_ids(topology: Topology) -> None:
    async with client(topology) as http:
        response = await http.get("/readyz", headers={"x-request-id": "trace-me-42", "x-mandat-pin": "1"})
    assert response.headers["x-request-id"] == "trace-me-42"
    lines = [json.loads(line) for line in topology.idps[0].log.read_text().splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    deadline = time.monotonic() + 5
    while not any(line.get("request_id") == "trace-me-42" for line in lines) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        lines = [json.loads(line) for line in topology.idps[0].log.read_text().splitlines() if line.startswith("{")]
    traced = [line for line in lines if line.get("request_id") == "trace-me-42"]
    assert traced and traced[0]["route"] == "/readyz" and traced[0]["status"] == 200
    nginx_lines = [json.loads(line) for line in (topology.root / "nginx" / "access.log").read_text().splitlines()]
    assert any(line["request_id"] == "trace-me-42" for line in nginx_lines)


async def test_serve_with_two_workers_shares_state_and_sums_metrics(topology: Topology) -> None:
    """`serve --workers 2` on the same PostgreSQL + Redis: uvicorn workers, any step on any worker."""
    idp = IdpProcess("workers2", topology.env, topology.root, workers=2)
    idp.start()
    try:
        async with httpx.AsyncClient(base_url=idp.url, timeout=20) as http:
            flow = Flow(http, topology.client_secret)
            for _ in range(3):
                code, verifier = await flow.code(pins=[None] * 5)
                tokens = await flow.token({"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": REDIRECT, "code_verifier": verifier}, pin=None)
                assert tokens.status_code == 200, tokens.text
        topology.secrets |= flow.secrets
        text = await metrics_of(idp.metrics_port)
        # One endpoint for both workers: the sum of their counters.
        assert metric(text, "mandat_tokens_issued_total", grant="authorization_code") == 3
        assert metric(text, "mandat_http_requests_total", route="/authorize") == 3
    finally:
        idp.stop()


def test_zz_no_secret_in_the_logs_of_the_run(topology: Topology) -> None:
    assert_no_secrets_in_logs(topology)
