"""Soak and scale-out figures for the production topology (nginx + 2 × `serve` + PostgreSQL + Redis, real processes).

    .venv/bin/python -m bench.soak.run --minutes 5 --rate 40        # the soak: bounded mixed workload
    .venv/bin/python -m bench.soak.run --throughput --seconds 20    # 1 vs 2 processes, client_credentials via wrk

A report, not a test. Every request targets 127.0.0.1, at a fixed rate, for a fixed time, and stops by itself.
The topology is the one tests/e2e/production builds (private PostgreSQL and Redis on free ports, nginx from
deploy/nginx/templates). The soak mixes, per second of `--rate`: logins with a full code flow (authorize, login,
consent, token), refreshes, client_credentials, introspection, userinfo and token exchange (bob, alice's proxy,
exchanges his own access token for one acting for her). It reports the error count (anything but the expected
answer), p50/p99 per operation, and every 10 s the RSS of each IdP process, PostgreSQL connections by state and
the machine's load average; all to bench/results/soak-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.conftest import REDIRECT, free_port  # noqa: E402
from tests.e2e.production.components import IdpProcess, PrivatePostgres, PrivateRedis  # noqa: E402
from tests.e2e.production.conftest import Topology, _seed, create_database, idp_env, self_signed, start_nginx  # noqa: E402
from tests.e2e.production.flows import Flow  # noqa: E402


def rss_kib(pid: int) -> int:
    """RSS of a process and its children (a `serve --workers N` supervisor and its workers)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(match.group(1)) if match else 0
    return total


def build(root: Path, processes: int, *, quiet: bool) -> Topology:
    pg = PrivatePostgres()
    redis = PrivateRedis(root / "redis")
    nginx_port = free_port()
    pg.start()
    redis.start()

    create_database(pg)
    env = idp_env(root, pg, redis, nginx_port)
    # Production-like: info logs, access lines off (as a soak would flood the disk otherwise), real argon2 cost.
    env.update({"MANDAT_LOG_LEVEL": "warning" if quiet else "info", "MANDAT_ARGON2_TIME_COST": "2",
                "MANDAT_ARGON2_MEMORY_KIB": "19456"})
    topo = Topology(root, pg, redis, [], nginx_port, None, root / "nginx" / "tls.pem", env)
    migrated = topo.cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    topo.client_secret, topo.m2m_secret = asyncio.run(_seed(topo.settings()))
    topo.exchange = asyncio.run(seed_exchange(topo.settings()))  # type: ignore[attr-defined]
    topo.idps.extend(IdpProcess(f"idp{n}", env, root) for n in range(1, processes + 1))
    for idp in topo.idps:
        idp.start()
    (root / "nginx").mkdir()
    tls = self_signed(root / "nginx")
    topo.nginx = start_nginx(root / "nginx", nginx_port, [i.port for i in topo.idps], tls)
    return topo


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


async def seed_exchange(settings: Any) -> dict[str, str]:
    """Token exchange needs a delegation: alice's proxy bob; a client `rpx` allowed the grant; alice's pairwise
    subject at rpx (the `requested_subject` bob names)."""
    from idp.audit import AuditLog
    from idp.container import build_container
    from idp.delegation.config import DelegationSettings
    from idp.delegation.interfaces import Actor, DelegationRequest
    from idp.delegation.service import DelegationService
    from idp.oidc.minting import subject_for

    container = build_container(settings)
    try:
        created = await container.clients.register(
            client_id="rpx", redirect_uris=[REDIRECT], auth_method="client_secret_basic",
            scopes=["openid", "profile", "delegations", "appointments.manage"],
            grant_types=["authorization_code", "refresh_token", TOKEN_EXCHANGE])
        alice = await container.clients.get("rpx")
        assert alice is not None and created.secret
        service = DelegationService(container.db, container.store, AuditLog(container.db),
                                    settings.domain(DelegationSettings.from_env))
        principal, delegate = await service.account_id("alice"), await service.account_id("bob")
        await service.create(DelegationRequest(kind="proxy", principal_id=principal, delegate_id=delegate,
                                               scopes=("profile", "appointments.manage"), reason="soak"),
                             Actor.administrator("admin:soak"))
        return {"secret": created.secret, "alice_subject": subject_for(container.provider, alice, principal)}
    finally:
        await container.close()


async def own_token_of_bob(topo: Topology) -> str:
    """Bob signs in at rpx for himself (the "act as" page answered "myself"): the subject token to exchange."""
    from tests.conftest import PASSWORD, form_field, pkce_pair

    secret = topo.exchange["secret"]  # type: ignore[attr-defined]
    verifier, challenge = pkce_pair()
    async with topo.client() as http:
        response = await http.get("/authorize", params={
            "response_type": "code", "client_id": "rpx", "redirect_uri": REDIRECT, "scope": "openid profile",
            "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
        for _ in range(8):
            location = response.headers.get("location", "")
            if not location.startswith("/interaction/"):
                break
            page = await http.get(location)
            if page.status_code in (302, 303):
                response = page
                continue
            csrf = form_field(page.text, "csrf_token")
            login = re.search(r'action="(/interaction/[^"]+/login)"', page.text)
            act = re.search(r'action="(/interaction/[^"]+/act)"', page.text)
            consent = re.search(r'action="(/interaction/[^"]+/consent)"', page.text)
            if login:
                response = await http.post(login.group(1), data={"csrf_token": csrf, "username": "bob",
                                                                  "password": PASSWORD})
            elif act:
                response = await http.post(act.group(1), data={"csrf_token": csrf, "acting_for": "myself"})
            else:
                assert consent, page.text[:500]
                response = await http.post(consent.group(1), data={"csrf_token": csrf, "decision": "allow"})
        code = re.search(r"[?&]code=([^&]+)", response.headers["location"])
        assert code, response.headers.get("location")
        token = await http.post("/token", auth=("rpx", secret), data={
            "grant_type": "authorization_code", "code": code.group(1), "redirect_uri": REDIRECT,
            "code_verifier": verifier})
        assert token.status_code == 200, token.text
        return str(token.json()["access_token"])


def teardown(topo: Topology) -> None:
    for idp in topo.idps:
        idp.stop()
    if topo.nginx is not None:
        topo.nginx.terminate()
        topo.nginx.wait(timeout=10)
    topo.redis.stop()
    topo.pg.destroy()


# --- the soak ------------------------------------------------------------------------------------------------

class Soak:
    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.samples: list[str] = []
        self.kinds: dict[str, int] = defaultdict(int)
        self.refresh_tokens: list[str] = []
        self.access_tokens: list[str] = []
        self.bob_token = ""

    async def timed(self, name: str, call: Callable[[], Awaitable[httpx.Response | None]]) -> None:
        started = time.perf_counter()
        why = ""
        try:
            response = await call()
            if response is not None and response.status_code != 200:
                why = f"{response.status_code} {response.text[:120]}"
        except (httpx.HTTPError, AssertionError, KeyError) as exc:
            why = f"{type(exc).__name__}: {str(exc)[:160]}"
        self.latency[name].append(time.perf_counter() - started)
        if why:
            self.errors[name] += 1
            kind = f"{name}: {why.splitlines()[0][:60]}"
            self.kinds[kind] += 1
            if len(self.samples) < 20:
                self.samples.append(f"{name}: {why}")

    async def code_flow(self, _shared: httpx.AsyncClient) -> httpx.Response | None:
        # A browser of its own (cookie jar): concurrent sign-ins in one jar would replace each other's session.
        async with self.topo.client(timeout=60) as http:
            flow = Flow(http, self.topo.client_secret)
            # Not bob: he acts for alice, so his sign-in asks for whom (token_exchange covers him).
            code, verifier = await flow.code(pins=[None] * 5, username=random.choice(["alice", "carol", "dave"]))
            response = await flow.token({"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": REDIRECT, "code_verifier": verifier}, pin=None)
        if response.status_code == 200:
            body = response.json()
            self.refresh_tokens.append(body["refresh_token"])
            self.access_tokens.append(body["access_token"])
            del self.refresh_tokens[:-50], self.access_tokens[:-50]
        return response

    async def refresh(self, http: httpx.AsyncClient) -> httpx.Response | None:
        if not self.refresh_tokens:
            return None
        token = self.refresh_tokens.pop(random.randrange(len(self.refresh_tokens)))
        response = await http.post("/token", auth=("rp", self.topo.client_secret),
                                   data={"grant_type": "refresh_token", "refresh_token": token})
        if response.status_code == 200:
            self.refresh_tokens.append(response.json()["refresh_token"])
        return response

    async def client_credentials(self, http: httpx.AsyncClient) -> httpx.Response | None:
        return await http.post("/token", auth=("m2m", self.topo.m2m_secret), data={"grant_type": "client_credentials"})

    async def introspect(self, http: httpx.AsyncClient) -> httpx.Response | None:
        if not self.access_tokens:
            return None
        return await http.post("/token/introspect", auth=("rp", self.topo.client_secret),
                               data={"token": random.choice(self.access_tokens)})

    async def token_exchange(self, http: httpx.AsyncClient) -> httpx.Response | None:
        """Bob's own token becomes a token for alice, acting as her proxy (RFC 8693)."""
        exchange = self.topo.exchange  # type: ignore[attr-defined]
        return await http.post("/token", auth=("rpx", exchange["secret"]), data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": self.bob_token, "subject_token_type": ACCESS_TOKEN,
            "requested_subject": exchange["alice_subject"], "scope": "appointments.manage"})

    async def userinfo(self, http: httpx.AsyncClient) -> httpx.Response | None:
        if not self.access_tokens:
            return None
        # Tokens of the last 50 code flows; all valid for the soak's length (MANDAT_ACCESS_TOKEN_TTL 600 s).
        return await http.get("/userinfo", headers={"authorization": f"Bearer {random.choice(self.access_tokens)}"})

    async def run(self, minutes: float, rate: float) -> dict[str, Any]:
        mix: list[tuple[str, Callable[[httpx.AsyncClient], Awaitable[httpx.Response | None]], float]] = [
            ("code_flow", self.code_flow, 0.15), ("refresh", self.refresh, 0.15),
            ("client_credentials", self.client_credentials, 0.3), ("introspect", self.introspect, 0.15),
            ("userinfo", self.userinfo, 0.15), ("token_exchange", self.token_exchange, 0.1)]
        self.bob_token = await own_token_of_bob(self.topo)  # valid 10 min (MANDAT_ACCESS_TOKEN_TTL)
        weights = [w for _, _, w in mix]
        timeline: list[dict[str, Any]] = []
        end = time.monotonic() + minutes * 60
        pending: set[asyncio.Task[None]] = set()
        clients = [self.topo.client(timeout=30) for _ in range(32)]
        sem = asyncio.Semaphore(64)

        async def one(index: int) -> None:
            name, call, _ = random.choices(mix, weights)[0]
            async with sem:
                await self.timed(name, lambda: call(clients[index % len(clients)]))

        async def sampler() -> None:
            conn = await asyncpg.connect(self.topo.pg.admin_dsn)
            try:
                while time.monotonic() < end:
                    states = {r["state"] or "none": r["n"] for r in await conn.fetch(
                        "SELECT state, count(*) AS n FROM pg_stat_activity WHERE datname = 'mandat' GROUP BY state")}
                    timeline.append({"t": round(minutes * 60 - (end - time.monotonic()), 1),
                                     "rss_mib": {idp.name: round(rss_kib(idp.pid) / 1024, 1) for idp in self.topo.idps},
                                     "db_connections": states, "load": os.getloadavg()[0],
                                     "done": sum(len(v) for v in self.latency.values())})
                    await asyncio.sleep(10)
            finally:
                await conn.close()

        sampling = asyncio.create_task(sampler())
        index = 0
        started = time.monotonic()
        while time.monotonic() < end:
            index += 1
            task = asyncio.create_task(one(index))
            pending.add(task)
            task.add_done_callback(pending.discard)
            # Fixed rate: the next start is scheduled from the start time, not from the last answer.
            await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
        await asyncio.gather(*pending)
        await sampling
        for client in clients:
            await client.aclose()
        return {"timeline": timeline, "operations": {
            name: {"count": len(values), "errors": self.errors.get(name, 0),
                   "p50_ms": round(statistics.median(values) * 1000, 1),
                   "p99_ms": round(sorted(values)[max(0, int(len(values) * 0.99) - 1)] * 1000, 1)}
            for name, values in sorted(self.latency.items())},
            "errors": sum(self.errors.values()), "error_kinds": dict(self.kinds), "error_samples": self.samples,
            "sent": index}


# --- 1 vs 2 processes -----------------------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic %s"
"""


def wrk(url: str, secret: str, seconds: int, connections: int, root: Path) -> dict[str, Any]:
    import base64

    script = root / "cc.lua"
    script.write_text(WRK_SCRIPT % base64.b64encode(f"m2m:{secret}".encode()).decode())
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                          url + "/token"], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    return {"rps": rps, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1) if errors else "", "p50": p50.group(1) if p50 else "",
            "p99": p99.group(1) if p99 else ""}


def throughput(seconds: int, connections: int) -> dict[str, Any]:
    """client_credentials through nginx (plain http to each process avoided: TLS is part of the path) with one,
    then two IdP processes; PostgreSQL and Redis the same."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    results: dict[str, Any] = {}
    for processes in (1, 2):
        root = Path(tempfile.mkdtemp(prefix=f"mandat-tput{processes}-"))
        topo = build(root, processes, quiet=True)
        try:
            wrk(topo.url, topo.m2m_secret, 3, connections, root)  # warm-up
            load_before = os.getloadavg()[0]
            results[f"{processes}_process"] = wrk(topo.url, topo.m2m_secret,
                                                  seconds, connections, root) | {"load_before": load_before}
        finally:
            teardown(topo)
            shutil.rmtree(root, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="soak duration (bounded to 60)")
    parser.add_argument("--rate", type=float, default=40.0, help="operations started per second (bounded to 500)")
    parser.add_argument("--throughput", action="store_true", help="measure 1 vs 2 processes instead")
    parser.add_argument("--seconds", type=int, default=20, help="throughput: seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    cpus = os.cpu_count()
    if args.throughput:
        report = {"kind": "throughput", "cpus": cpus, **throughput(min(args.seconds, 120), args.connections)}
        path = out_dir / f"throughput-{stamp}.json"
    else:
        root = Path(tempfile.mkdtemp(prefix="mandat-soak-"))
        topo = build(root, 2, quiet=True)
        try:
            result = asyncio.run(Soak(topo).run(min(args.minutes, 60), min(args.rate, 500)))
        finally:
            teardown(topo)
            shutil.rmtree(root, ignore_errors=True)
        report = {"kind": "soak", "minutes": args.minutes, "rate": args.rate, "cpus": cpus, **result}
        path = out_dir / f"soak-{stamp}.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
