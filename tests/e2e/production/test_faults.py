"""Faults against the real topology (nginx + 2 × serve + private PostgreSQL + private Redis):

- Redis stopped mid-flow: 503 + Retry-After (`temporarily_unavailable` on protocol endpoints), never 500;
  service resumes when Redis is back, with no restart; durable data intact.
- PostgreSQL killed (a crash) and restarted under load: requests fail cleanly (503), never 500; the pools recover.
- An IdP process SIGKILLed during enrollment activations, and a writer SIGKILLed during delegation changes: each
  write is all or nothing, every audit event matches the state, and `audit verify` passes.
- SIGTERM: requests in flight finish, new ones go to the other process.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import asyncpg
import httpx

from tests.conftest import PASSWORD, REDIRECT, form_field
from tests.e2e.production.conftest import Topology, assert_no_secrets_in_logs, metric
from tests.e2e.production.flows import Flow
from tests.e2e.production.writers import seed_activations


def assert_clean(statuses: Counter[int], allowed: set[int]) -> None:
    assert set(statuses) <= allowed, f"unexpected statuses: {dict(statuses)}"
    assert 500 not in statuses and 502 not in statuses


async def metrics(topology: Topology) -> list[str]:
    async with httpx.AsyncClient(timeout=5) as http:
        return [(await http.get(f"http://127.0.0.1:{idp.metrics_port}/metrics")).text for idp in topology.idps]


async def test_redis_stopped_mid_flow_answers_503_then_recovers(topology: Topology) -> None:
    async with topology.client() as http:
        flow = Flow(http, topology.client_secret)
        code, verifier = await flow.code(pins=[1, 2, 1, 2, 1])
        tokens = await flow.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                   "code_verifier": verifier}, pin=2)
        assert tokens.status_code == 200
        refresh = tokens.json()["refresh_token"]
        # A second flow stops half-way: its sign-in transaction lives in Redis.
        verifier_2 = "v" * 50
        started = await http.get("/authorize", params={
            "response_type": "code", "client_id": "rp", "redirect_uri": REDIRECT, "scope": "openid", "state": "s2",
            "prompt": "login", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256"})
        assert started.status_code == 303
        code_2, verifier_2 = await flow.code(pins=[2, 1, 2, 1, 2])

        topology.redis.stop()
        statuses: Counter[int] = Counter()
        for pin in (1, 2):
            page = await http.get(started.headers["location"], headers={"x-mandat-pin": str(pin)})
            statuses[page.status_code] += 1
            assert page.status_code == 503 and page.headers["retry-after"] == "3"
            assert "text/html" in page.headers["content-type"]
            token = await http.post("/token", headers={"x-mandat-pin": str(pin)}, auth=("rp", topology.client_secret),
                                    data={"grant_type": "authorization_code", "code": code_2,
                                          "redirect_uri": REDIRECT, "code_verifier": verifier_2})
            statuses[token.status_code] += 1
            assert token.status_code == 503 and token.headers["retry-after"] == "3"
            assert token.json()["error"] == "temporarily_unavailable"
            # /authorize: the client is verified, so the error goes back to it (RFC 6749 §4.1.2.1).
            again = await http.get("/authorize", headers={"x-mandat-pin": str(pin)}, params={
                "response_type": "code", "client_id": "rp", "redirect_uri": REDIRECT, "scope": "openid",
                "state": "s3", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256"})
            statuses[again.status_code] += 1
            assert again.status_code == 302 and "error=temporarily_unavailable" in again.headers["location"]
            assert again.headers["location"].startswith(REDIRECT) and "state=s3" in again.headers["location"]
            ready = await http.get("/readyz", headers={"x-mandat-pin": str(pin)})
            assert ready.status_code == 503 and ready.headers["retry-after"] == "3"
            assert ready.json()["checks"]["redis"].startswith("down") and ready.json()["checks"]["database"] == "ok"
            assert (await http.get("/healthz", headers={"x-mandat-pin": str(pin)})).status_code == 200
            # Endpoints that do not need Redis keep working.
            assert (await http.get("/jwks", headers={"x-mandat-pin": str(pin)})).status_code == 200
        assert_clean(statuses, {302, 503})

        topology.redis.start()  # empty: ephemeral state is gone, durable state is not
        for pin in (1, 2):
            deadline = time.monotonic() + 10
            while (await http.get("/readyz", headers={"x-mandat-pin": str(pin)})).status_code != 200:
                assert time.monotonic() < deadline, "did not recover after Redis came back"
                await asyncio.sleep(0.2)
        refreshed = await flow.token({"grant_type": "refresh_token", "refresh_token": refresh}, pin=1)
        assert refreshed.status_code == 200, refreshed.text  # the grant is durable (PostgreSQL)
        code_3, verifier_3 = await flow.code(pins=[2, 1, 2, 1, 2])
        final = await flow.token({"grant_type": "authorization_code", "code": code_3, "redirect_uri": REDIRECT,
                                  "code_verifier": verifier_3}, pin=1)
        assert final.status_code == 200, final.text
    topology.secrets |= flow.secrets | {code_2, verifier_2}
    for text in await metrics(topology):
        assert metric(text, "mandat_storage_errors_total", backend="redis") >= 1
        assert metric(text, "mandat_http_requests_total", status="500") == 0


async def test_postgres_crash_under_load_fails_cleanly_and_the_pool_recovers(topology: Topology) -> None:
    async with topology.client() as http:
        flow = Flow(http, topology.client_secret)
        code, verifier = await flow.code(pins=[1, 2, 1, 2, 1])
        tokens = (await flow.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                    "code_verifier": verifier}, pin=2)).json()
    topology.secrets |= flow.secrets
    refresh_token = tokens["refresh_token"]
    statuses: Counter[int] = Counter()
    bodies: list[str] = []
    stop = asyncio.Event()

    async def worker(pin: int) -> None:
        async with topology.client(timeout=30) as client:
            while not stop.is_set():
                # Introspecting a refresh token reads PostgreSQL on every call. (userinfo no longer does: the
                # account, the grant and the verified token are kept per process, so it rides out a short
                # outage with 200s.)
                response = await client.post("/token/introspect", data={"token": refresh_token},
                                             auth=("rp", topology.client_secret),
                                             headers={"x-mandat-pin": str(pin)})
                statuses[response.status_code] += 1
                if response.status_code not in (200, 503):
                    bodies.append(response.text[:300])
                elif response.status_code == 503:
                    assert response.headers["retry-after"] == "3"
                    assert response.json()["error"] == "temporarily_unavailable"
                else:
                    assert response.json()["active"] is True
                await asyncio.sleep(0.01)

    workers = [asyncio.create_task(worker(pin)) for pin in (1, 2, 1, 2)]
    await asyncio.sleep(1.5)
    before = statuses[200]
    assert before > 0
    topology.pg.kill()  # a crash: connections die mid-query
    await asyncio.sleep(2.5)
    down = {pin: (await readyz(topology, pin)) for pin in (1, 2)}
    topology.pg.start()
    await asyncio.sleep(0.5)
    recovered_at = statuses[200]
    deadline = time.monotonic() + 15
    while statuses[200] < recovered_at + 20 and time.monotonic() < deadline:  # noqa: ASYNC110 (a poll)
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)
    stop.set()
    await asyncio.gather(*workers)
    assert not bodies, bodies
    assert_clean(statuses, {200, 503})
    assert statuses[503] > 0, "the outage was not seen"
    assert statuses[200] >= recovered_at + 20, f"no recovery: {dict(statuses)}"
    for pin, (status, body) in down.items():
        assert status == 503 and body["checks"]["database"].startswith("down"), (pin, body)
    for pin in (1, 2):  # both pools recovered by themselves, no restart
        status, body = await readyz(topology, pin)
        assert status == 200, body
    for text in await metrics(topology):
        assert metric(text, "mandat_storage_errors_total", backend="database") >= 1


async def readyz(topology: Topology, pin: int) -> tuple[int, Any]:
    async with topology.client() as http:
        response = await http.get("/readyz", headers={"x-mandat-pin": str(pin)})
    return response.status_code, response.json()


def audit_verify(topology: Topology) -> None:
    verified = topology.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def fetch(topology: Topology, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(topology.pg.url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_sigkill_during_enrollment_activations_leaves_all_or_nothing(topology: Topology) -> None:
    # 16: under the per-connection allowance of code checks (20 an hour; every request comes from nginx here).
    seeded = await asyncio.to_thread(lambda: asyncio.run(seed_activations(topology.settings(), 16)))
    passwords = {number: f"Plume-verte-{i}-océan-brise" for i, (number, _code) in enumerate(seeded)}
    topology.secrets |= {code for _number, code in seeded} | set(passwords.values())
    outcomes: Counter[str] = Counter()

    async def activate(number: str, code: str) -> None:
        async with topology.client(timeout=30) as http:
            headers = {"x-mandat-pin": "1"}
            try:
                page = await http.get("/activate", headers=headers)
                if page.status_code != 200:  # the process is already dead: nginx's 502
                    outcomes[f"form {page.status_code}"] += 1
                    return
                response = await http.post("/activate", headers=headers, data={
                    "csrf_token": form_field(page.text, "csrf_token"), "number": number, "code": code,
                    "password": passwords[number]})
                outcomes[str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                outcomes[type(exc).__name__] += 1

    async def staggered(index: int, number: str, code: str) -> None:
        await asyncio.sleep(index * 0.04)
        await activate(number, code)

    tasks = [asyncio.create_task(staggered(i, number, code)) for i, (number, code) in enumerate(seeded)]
    # Kill once a few have finished: the next ones are then between their request and their commit (argon2 runs
    # inside the transaction's window), and the last ones not yet sent.
    while sum(outcomes.values()) < 4:  # noqa: ASYNC110 (a poll)
        await asyncio.sleep(0.005)
    await asyncio.sleep(random.uniform(0, 0.05))
    topology.idps[0].signal(signal.SIGKILL)
    try:
        await asyncio.gather(*tasks)
    finally:
        topology.idps[0].wait(10)
        topology.restart(1)
    # A killed request reaches the browser as nginx's 502: that is the crash itself, not a handled answer.
    assert set(outcomes) <= {"303", "502", "form 502"} | {k for k in outcomes if not k[0].isdigit()}, outcomes

    numbers = [number for number, _ in seeded]
    accounts = {row["username"]: row for row in await fetch(
        topology, "SELECT id, username, password_hash FROM accounts WHERE username = ANY($1)", numbers)}
    codes = {row["registry_number"]: row for row in await fetch(
        topology, "SELECT registry_number, consumed_at FROM security_codes WHERE registry_number = ANY($1)",
        numbers)}
    for number in numbers:
        activated = number in accounts
        consumed = codes[number]["consumed_at"] is not None
        assert activated == consumed, f"{number}: account {activated}, code consumed {consumed}"
        if activated:
            assert accounts[number]["password_hash"], number
    assert outcomes["303"] <= len(accounts)  # every success the browser saw is durable
    audit_verify(topology)
    events = {row["actor"] for row in await fetch(
        topology, "SELECT actor FROM audit_events WHERE tag = 'enrollment:account:activated'")}
    account_ids = {row["id"] for row in accounts.values()}
    assert events <= account_ids, "an audit event for an activation that did not happen"
    # The event is recorded inside the activation's transaction: it commits with the account or not at all.
    assert events == account_ids, f"activations without their audit event: {account_ids - events}"
    assert len(accounts) > 0, outcomes


async def test_sigkill_during_delegation_changes_leaves_all_or_nothing(topology: Topology) -> None:
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.e2e.production.writers", "delegations", "400", env=topology.env,
        cwd=topology.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert writer.stdout is not None and writer.stderr is not None
    lines: list[str] = []
    kill_after = random.randint(10, 30)  # changes, once it is going: the next one is then in flight
    while len(lines) < kill_after:
        line = await asyncio.wait_for(writer.stdout.readline(), 60)
        if not line:
            break
        lines.append(line.decode())
    writer.send_signal(signal.SIGKILL)
    rest, stderr_bytes = await writer.communicate()
    stderr = stderr_bytes.decode(errors="replace")
    assert writer.returncode == -signal.SIGKILL, stderr[-2000:]
    reported = [line.split() for line in [*lines, *rest.decode().splitlines()] if line.strip()]
    assert reported, f"the writer committed nothing before the kill:\n{stderr[-2000:]}"
    rows = {row["id"]: row for row in await fetch(
        topology, "SELECT id, status, revoked_at, revoked_by, revocation_reason FROM delegations")}
    notices = Counter(row["delegation_id"] for row in await fetch(
        topology, "SELECT delegation_id FROM delegation_notifications"))
    for action, delegation_id in reported:  # what the writer saw committed is there
        assert delegation_id in rows
        if action == "revoked":
            assert rows[delegation_id]["status"] == "revoked"
    for delegation_id, row in rows.items():  # and every row is whole: one state, with all its parts
        if row["status"] == "revoked":
            assert row["revoked_at"] and row["revoked_by"] and row["revocation_reason"], row
        else:
            assert row["status"] == "active" and row["revoked_at"] is None, row
        assert notices[delegation_id] >= 1, f"{delegation_id}: created without its notice"
    audit_verify(topology)
    events = await fetch(topology, "SELECT tag, detail FROM audit_events WHERE tag LIKE 'delegation:%'")

    def ids(tag: str) -> list[str]:
        details = [row["detail"] for row in events if row["tag"] == tag]
        return [(json.loads(d) if isinstance(d, str) else d)["delegation_id"] for d in details]

    # The service records its events inside the change's transaction (idp/audit.py): they commit with it or not
    # at all, so the audit trail matches the state exactly, whenever the writer died.
    assert sorted(ids("delegation:created")) == sorted(rows)
    assert sorted(ids("delegation:revoked")) == sorted(i for i, row in rows.items() if row["status"] == "revoked")
    print(f"delegations: {len(rows)} rows, every one with exactly its events after SIGKILL")


async def test_sigterm_lets_requests_in_flight_finish_and_new_ones_go_to_the_other_process(
        topology: Topology) -> None:
    async def open_form(http: httpx.AsyncClient) -> tuple[str, str]:
        """Authorize and the password form, on process 2."""
        flow = Flow(http, topology.client_secret)
        response = await flow.request("authorize", "GET", "/authorize", 2, params={
            "response_type": "code", "client_id": "rp", "redirect_uri": REDIRECT, "scope": "openid", "state": "s",
            "prompt": "login", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256"})
        page = await flow.request("login page", "GET", response.headers["location"], 2)
        action = re.search(r'action="(/interaction/[^"]+/login)"', page.text)
        assert action
        return action.group(1), form_field(page.text, "csrf_token")

    async def post(http: httpx.AsyncClient, action: str, csrf_token: str) -> int:
        """The password (argon2 on a bounded pool: a dozen at once take a while)."""
        response = await http.post(action, headers={"x-mandat-pin": "2"}, data={
            "csrf_token": csrf_token, "username": "bob", "password": PASSWORD})
        return response.status_code

    clients = [topology.client(timeout=30) for _ in range(12)]
    try:
        forms = [await open_form(http) for http in clients]
        in_flight = [asyncio.create_task(post(http, *form)) for http, form in zip(clients, forms, strict=True)]
        await asyncio.sleep(0.15)  # all sent, most still hashing
        topology.idps[1].signal(signal.SIGTERM)
        results = await asyncio.gather(*in_flight, return_exceptions=True)
    finally:
        for http in clients:
            await http.aclose()
    exit_code = topology.idps[1].wait(30)
    # uvicorn re-raises the signal once it has shut down gracefully, so the exit status is "killed by SIGTERM".
    assert exit_code in (0, -signal.SIGTERM)
    assert "Finished server process" in topology.idps[1].log.read_text()
    # Requests that reached process 2 before SIGTERM completed; none was cut (no 502, no reset).
    assert results == [303] * len(clients), results
    async with topology.client() as http:
        balanced = [await http.get("/readyz") for _ in range(10)]
    assert {r.status_code for r in balanced} == {200}
    assert {r.headers["x-mandat-upstream"].split(", ")[-1] for r in balanced} == {topology.upstream(1)}
    topology.idps[1].start()


def test_zz_no_secret_in_the_logs_of_the_run(topology: Topology) -> None:
    """Logs of a run that crashed processes and lost storage twice: still no secret in them."""
    assert_no_secrets_in_logs(topology)
