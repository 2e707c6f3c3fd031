"""Benchmark Mandat side by side with node-oidc-provider (Node 22) and the floor, every flow, in one run.

    python bench/run.py [--duration 10] [--connections 32] [--flows client_credentials,code_flow,...] [--pin]

Every server is ONE process on 127.0.0.1 (unless --mandat-workers); every load is bounded in time and stops by
itself; every response is checked. Prints one table per flow and writes bench/results/<UTC time>.md (the table
of req/s, p50/p99 and ratios) and .json (everything). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import httpx
from joserfc.jwk import KeySet, KeySetSerialization

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.code_flow import FlowOutcome, run_code_flow_processes, seed_flows
from bench.harness.cpu import metered
from bench.harness.logins import run_password_logins
from bench.harness.servers import (
    BENCH_DIR,
    DELEGATED_SCOPES,
    TOKEN_EXCHANGE,
    Target,
    remote_mandat,
    start_floor,
    start_mandat,
    start_peer,
    token_exchange_available,
)
from bench.harness.verify import check_access_token, decode_signed
from bench.harness.wrk import WrkResult, lua_refresh_rotation, lua_request, run_wrk_script

FLOWS = ("client_credentials", "code_flow", "code_flow_passkey", "refresh", "userinfo", "introspection",
         "token_exchange", "password_login", "delegation_check")
WRK_FLOWS = ("client_credentials", "refresh", "userinfo", "introspection", "token_exchange")
UNITS = {"code_flow": "flows/s", "code_flow_passkey": "flows/s", "password_login": "logins/s",
         "delegation_check": "checks/s"}
TITLES = {
    "client_credentials": "client_credentials (wrk)",
    "code_flow": "code flow, password (authorize → login → consent → token)",
    "code_flow_passkey": "code flow, passkey (software authenticator, no password hash)",
    "refresh": "refresh_token with rotation (wrk)",
    "userinfo": "userinfo, Bearer (wrk)",
    "introspection": "introspection of an access token (wrk)",
    "token_exchange": "token exchange under a delegation (RFC 8693, wrk)",
    "password_login": "password login alone (/account/login)",
    "delegation_check": "delegation check, 10,000 delegations of one principal (in-process, sequential)",
}
SAMPLES = 5
TOKEN_EXCHANGE_TYPE = "urn:ietf:params:oauth:token-type:access_token"
LOAD_CPU, SERVER_CPU = "0", "1"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of measured load per server and flow")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of unmeasured load before each measurement")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--users", type=int, default=None,
                        help="virtual users for the code flows (default: --connections)")
    parser.add_argument("--login-users", type=int, default=8, help="virtual users for password_login")
    parser.add_argument("--driver-processes", type=int, default=1,
                        help="processes sharing the code-flow virtual users (one Python process saturates one core)")
    parser.add_argument("--flows", default=",".join(FLOWS), help=f"comma-separated, among {', '.join(FLOWS)}")
    parser.add_argument("--only", choices=FLOWS, help="run one flow only (same as --flows NAME)")
    parser.add_argument("--pin", action="store_true",
                        help=f"pin the servers to CPU {SERVER_CPU} and the load generators to CPU {LOAD_CPU} (taskset)")
    parser.add_argument("--mandat-url", help="use a Mandat already running there instead of starting one")
    parser.add_argument("--mandat-client-secret", default=os.environ.get("MANDAT_BENCH_CLIENT_SECRET", ""),
                        help="bench-client's secret, with --mandat-url")
    parser.add_argument("--mandat-password", default=os.environ.get("MANDAT_BENCH_PASSWORD", "bench-password-alice"),
                        help="alice's password, with --mandat-url")
    parser.add_argument("--mandat-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the Mandat commands, e.g. MANDAT_ARGON2_MEMORY_KIB=19456")
    parser.add_argument("--mandat-client-args", default="",
                        help="extra arguments for `idp client add` (e.g. grant types), shell-quoted")
    parser.add_argument("--mandat-serve-args", default="", help="extra arguments for `idp serve`, shell-quoted")
    parser.add_argument("--mandat-workers", type=int, default=1,
                        help="Mandat worker processes (more than 1 needs --mandat-backend postgres)")
    parser.add_argument("--mandat-backend", choices=("sqlite", "postgres"), default="sqlite",
                        help="sqlite: file + in-process store (default); postgres: --pg-url + --redis-url")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server for --mandat-backend postgres and the delegation check "
                             "(a database of its own is created and dropped)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="Redis for --mandat-backend postgres")
    parser.add_argument("--delegations", type=int, default=10_000,
                        help="delegations held by the token-exchange principal (a clinic)")
    parser.add_argument("--cc-scope", default="", help="scope sent with client_credentials (default: none)")
    parser.add_argument("--no-mandat", action="store_true", help="skip Mandat")
    parser.add_argument("--no-peer", action="store_true", help="skip node-oidc-provider")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and Mandat's temp dir")
    args = parser.parse_args(argv)
    args.flow_list = [args.only] if args.only else [f.strip() for f in args.flows.split(",") if f.strip()]
    unknown = set(args.flow_list) - set(FLOWS)
    if unknown:
        parser.error(f"unknown flows: {', '.join(sorted(unknown))}")
    if args.mandat_workers > 1 and args.mandat_backend != "postgres":
        parser.error("--mandat-workers > 1 needs --mandat-backend postgres (the in-process store is per process)")
    return args


def loud(message: str) -> None:
    print(f"\n!!! {message}\n", file=sys.stderr, flush=True)


def discover(target: Target) -> tuple[dict[str, Any], dict[str, Any]]:
    """The server's discovery document and its JWKS (as JSON, so it can be handed to driver processes)."""
    discovery = httpx.get(f"{target.issuer}/.well-known/openid-configuration", timeout=10).json()
    if discovery.get("issuer") != target.issuer:
        loud(f"{target.name}: discovery issuer {discovery.get('issuer')!r} != {target.issuer!r}")
    jwks = httpx.get(discovery["jwks_uri"], timeout=10).json()
    return discovery, jwks


def key_set(jwks: dict[str, Any]) -> KeySet:
    return KeySet.import_key_set(cast(KeySetSerialization, jwks))


def _basic(target: Target) -> tuple[str, str]:
    return target.client_id, target.client_secret


def _form_headers(target: Target) -> dict[str, str]:
    import base64

    basic = base64.b64encode(f"{target.client_id}:{target.client_secret}".encode()).decode()
    return {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"}


def _rss(target: Target) -> float | None:
    return target.process.rss_mb() if target.process else None


# --- wrk flows -------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class WrkFlow:
    """One wrk-driven flow on one server: where, what script (fresh per phase: warm-up, measure), how to check."""

    url: str
    script: Callable[[str], str]
    sample: Callable[[], list[str]]
    note: str = ""


def run_wrk_flow(target: Target, flow: str, spec: WrkFlow, args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"server": target.name, "note": spec.note}
    before = spec.sample()
    if before:
        loud(f"{target.name} {flow}: responses fail their checks BEFORE load:\n  " + "\n  ".join(before))
    cpus = LOAD_CPU if args.pin else None

    def load(script: str, seconds: int) -> WrkResult:
        return run_wrk_script(spec.url, script, threads=args.threads, connections=args.connections,
                              duration=seconds, cpus=cpus)

    # Scripts are made outside the measurement: a refresh script's seed tokens come from code flows. The measured
    # run's are made after the warm-up: the peer's in-memory adapter is an LRU of 1,000 entries, and a warm-up
    # of rotations evicts older tokens.
    if args.warmup:
        warm = load(spec.script("warmup"), args.warmup)
        report["warmup_errors"] = warm.errors
    measure_script = spec.script("measure")
    result, share, wrk_cpu = metered(target, lambda: load(measure_script, args.duration))
    after = spec.sample()
    if after:
        loud(f"{target.name} {flow}: responses fail their checks AFTER load:\n  " + "\n  ".join(after))
    if result.errors:
        loud(f"{target.name} {flow}: {result.errors} bad responses under load (wrong status {result.non200}, "
             f"missing field {result.missing_access_token}, socket {result.socket_errors})")
    report.update({"requests": result.requests, "req_per_s": result.req_per_s, "p50_ms": result.p50_ms,
                   "p99_ms": result.p99_ms, "errors": result.errors, "wrong_status": result.non200,
                   "missing_field": result.missing_access_token, "socket_errors": result.socket_errors,
                   "verification_failures": before + after, "rss_mb": _rss(target),
                   **share.with_driver(wrk_cpu), "wrk_output": result.raw})
    return report


def client_credentials_flow(target: Target, discovery: dict[str, Any], jwks: KeySet,
                            args: argparse.Namespace) -> WrkFlow:
    form = {"grant_type": "client_credentials", **target.cc_extra}
    if args.cc_scope:
        form["scope"] = args.cc_scope

    def sample() -> list[str]:
        problems = []
        with httpx.Client(timeout=10) as client:
            for _ in range(SAMPLES):
                response = client.post(discovery["token_endpoint"], data=form, auth=_basic(target))
                if response.status_code != 200 or "access_token" not in response.text:
                    problems.append(f"HTTP {response.status_code}: {response.text[:200]}")
                    continue
                problems += check_access_token(response.json()["access_token"], jwks, target.issuer, target.client_id)
        return problems

    script = lua_request(what="client_credentials with client_secret_basic", body=urlencode(form),
                         headers=_form_headers(target), must_contain=('"access_token"',))
    return WrkFlow(discovery["token_endpoint"], lambda _phase: script, sample)


def _seeds(target: Target, discovery: dict[str, Any], count: int, *, scope: str, prompt: str | None = None,
           users: int = 8) -> list[FlowOutcome]:
    password_only = dataclasses.replace(target, authenticator=None, process=None)
    return seed_flows(password_only, discovery, count, scope=scope, prompt=prompt, users=users)


def refresh_flow(target: Target, discovery: dict[str, Any], jwks: KeySet, args: argparse.Namespace) -> WrkFlow:
    """Each phase gets its own refresh tokens (one per connection), from code flows with offline_access."""
    scope = "openid profile offline_access"
    token_url = discovery["token_endpoint"]

    def script(_phase: str) -> str:
        seeds = _seeds(target, discovery, args.connections, scope=scope, prompt="consent")
        tokens = [s.body.get("refresh_token") for s in seeds]
        if not all(tokens):
            raise RuntimeError(f"{target.name}: a code flow with offline_access returned no refresh_token")
        return lua_refresh_rotation(client_id=target.client_id, client_secret=target.client_secret,
                                    seeds=cast(list[str], tokens), threads=args.threads)

    def sample() -> list[str]:
        problems = []
        seed = _seeds(target, discovery, 1, scope=scope, prompt="consent", users=1)[0]
        old = seed.body["refresh_token"]
        with httpx.Client(timeout=10) as client:
            response = client.post(token_url, auth=_basic(target),
                                   data={"grant_type": "refresh_token", "refresh_token": old})
            if response.status_code != 200:
                return [f"refresh HTTP {response.status_code}: {response.text[:200]}"]
            body = response.json()
            if not body.get("refresh_token") or body["refresh_token"] == old:
                problems.append("no rotation: the answer carries no new refresh_token")
            if target.name == "Mandat":
                problems += check_access_token(body["access_token"], jwks, target.issuer, target.client_id)
            reuse = client.post(token_url, auth=_basic(target),
                                data={"grant_type": "refresh_token", "refresh_token": old})
            if reuse.status_code != 400 or "invalid_grant" not in reuse.text:
                problems.append(f"the used refresh token still works: HTTP {reuse.status_code}")
        return problems

    return WrkFlow(token_url, script, sample, note="each token used once; new one per answer")


def _id_token_sub(outcome: FlowOutcome, jwks: KeySet) -> str | None:
    decoded = decode_signed(outcome.id_token, jwks)
    return None if isinstance(decoded, str) else decoded[1].get("sub")


def userinfo_flow(target: Target, discovery: dict[str, Any], jwks: KeySet, args: argparse.Namespace) -> WrkFlow:
    seed = _seeds(target, discovery, 1, scope="openid profile", users=1)[0]
    assert seed.access_token is not None
    url = discovery["userinfo_endpoint"]
    sub = _id_token_sub(seed, jwks)
    headers = {"Authorization": f"Bearer {seed.access_token}"}

    def sample() -> list[str]:
        with httpx.Client(timeout=10) as client:
            response = client.get(url, headers=headers)
        if response.status_code != 200:
            return [f"HTTP {response.status_code}: {response.text[:200]}"]
        claims = response.json()
        return [] if claims.get("sub") == sub else [f"userinfo sub {claims.get('sub')!r} != ID token sub {sub!r}"]

    script = lua_request(what="userinfo with a Bearer token", method="GET", headers=headers,
                         must_contain=('"sub"',))
    kind = "JWT access token (RFC 9068)" if seed.access_token.count(".") == 2 else "opaque access token"
    return WrkFlow(url, lambda _phase: script, sample, note=kind)


def introspection_flow(target: Target, discovery: dict[str, Any], jwks: KeySet,
                       args: argparse.Namespace) -> WrkFlow:
    seed = _seeds(target, discovery, 1, scope="openid profile", users=1)[0]
    assert seed.access_token is not None
    url = discovery["introspection_endpoint"]
    form = {"token": seed.access_token, "token_type_hint": "access_token"}

    def sample() -> list[str]:
        with httpx.Client(timeout=10) as client:
            response = client.post(url, data=form, auth=_basic(target))
        if response.status_code != 200:
            return [f"HTTP {response.status_code}: {response.text[:200]}"]
        body = response.json()
        problems = [] if body.get("active") is True else [f"not active: {body}"]
        if body.get("client_id") != target.client_id:
            problems.append(f"client_id {body.get('client_id')!r}")
        return problems

    script = lua_request(what="introspection (RFC 7662) with client_secret_basic", body=urlencode(form),
                         headers=_form_headers(target), must_contain=('"active":true',))
    kind = "JWT access token" if seed.access_token.count(".") == 2 else "opaque access token"
    return WrkFlow(url, lambda _phase: script, sample, note=kind)


def token_exchange_flow(target: Target, discovery: dict[str, Any], jwks: KeySet,
                        args: argparse.Namespace) -> WrkFlow:
    """carol (a delegate of the clinic) signs in; bench-client exchanges her token for one for the clinic."""
    from bench.harness.servers import ACTOR_PASSWORD, ACTOR_USERNAME

    actor = dataclasses.replace(target, username=ACTOR_USERNAME, password=ACTOR_PASSWORD, authenticator=None,
                                process=None)
    seed = seed_flows(actor, discovery, 1, scope="openid", users=1)[0]
    assert seed.access_token is not None
    principal = target.extra["requested_subject"]
    form = {"grant_type": TOKEN_EXCHANGE, "subject_token": seed.access_token,
            "subject_token_type": TOKEN_EXCHANGE_TYPE, "requested_subject": principal, "scope": DELEGATED_SCOPES}
    url = discovery["token_endpoint"]

    def sample() -> list[str]:
        problems = []
        with httpx.Client(timeout=10) as client:
            for _ in range(SAMPLES):
                response = client.post(url, data=form, auth=_basic(target))
                if response.status_code != 200:
                    return [f"HTTP {response.status_code}: {response.text[:300]}"]
                token = response.json()["access_token"]
                problems += check_access_token(token, jwks, target.issuer, target.client_id)
                decoded = decode_signed(token, jwks)
                if isinstance(decoded, str):
                    continue
                claims = decoded[1]
                if claims.get("sub") != principal:
                    problems.append(f"sub {claims.get('sub')!r} is not the principal's {principal!r}")
                if not isinstance(claims.get("act"), dict) or not claims["act"].get("sub"):
                    problems.append(f"no act claim: {claims.get('act')!r}")
                if claims.get("delegation_id") != target.extra.get("delegation_id"):
                    problems.append(f"delegation_id {claims.get('delegation_id')!r}")
        return problems

    script = lua_request(what="token exchange (RFC 8693) under a delegation", body=urlencode(form),
                         headers=_form_headers(target), must_contain=('"access_token"', '"issued_token_type"'))
    return WrkFlow(url, lambda _phase: script, sample,
                   note=f"principal holds {target.extra.get('delegations', '?')} delegations")


WRK_BUILDERS = {"client_credentials": client_credentials_flow, "refresh": refresh_flow, "userinfo": userinfo_flow,
                "introspection": introspection_flow, "token_exchange": token_exchange_flow}


# --- Python-driven flows ---------------------------------------------------------------------------------------

def bench_code_flow(target: Target, args: argparse.Namespace, *, passkey: bool) -> dict[str, Any]:
    discovery, jwks = discover(target)
    walker = dataclasses.replace(target, authenticator=target.authenticator if passkey else None)
    users = args.users or args.connections
    procs = args.driver_processes
    warmup_errors: dict[str, int] = {}
    warmup_samples: list[str] = []
    if args.warmup:
        warm = run_code_flow_processes(walker, discovery, jwks, users, args.warmup, procs)
        warmup_errors, warmup_samples = warm.errors, warm.error_samples
        if warm.errors:
            loud(f"{target.name} code flow warm-up errors {warm.errors}:\n  " + "\n  ".join(warm.error_samples))
    stats, share, _children = metered(
        target, lambda: run_code_flow_processes(walker, discovery, jwks, users, args.duration, procs))
    summary = stats.summary()
    if summary["errors"]:
        loud(f"{target.name} code flow: {summary['errors']} failed flows {stats.errors}:\n  "
             + "\n  ".join(stats.error_samples))
    note = "passkey, ES256, user verified" if passkey else target.login_note
    summary.update({"server": target.name, "req_per_s": summary["flows_per_s"], "warmup_errors": warmup_errors,
                    "warmup_error_samples": warmup_samples, "note": note, "rss_mb": _rss(target),
                    **share.with_driver(stats.driver_cpu_seconds)})
    return summary


def bench_password_login(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    if args.warmup:
        run_password_logins(target, args.login_users, min(args.warmup, 3))
    stats, share, _children = metered(target, lambda: run_password_logins(target, args.login_users, args.duration))
    summary = stats.summary()
    if summary["errors"]:
        loud(f"{target.name} password_login: {summary['errors']} failed {stats.errors}:\n  "
             + "\n  ".join(stats.error_samples))
    cpu = share.with_driver(stats.driver_cpu_seconds)
    server_cpu = cpu.get("server_cpu_pct") or 0.0
    per_core = summary["flows_per_s"] / (server_cpu / 100) if server_cpu else None
    summary.update({"server": target.name, "req_per_s": summary["flows_per_s"], "rss_mb": _rss(target),
                    "per_core": round(per_core, 1) if per_core else None,
                    "note": f"{target.login_note}; {per_core:.1f} logins/s per core of server CPU" if per_core
                    else target.login_note, **cpu})
    return summary


def bench_delegation_check(args: argparse.Namespace) -> list[dict[str, Any]]:
    """bench/delegation_check.py on SQLite, and on PostgreSQL (+ Redis) when reachable."""
    runs: list[tuple[str, list[str]]] = [("SQLite + in-process store", [])]
    pg_db = None
    if _reachable(args.pg_url):
        from bench.harness.servers import _fresh_postgres

        pg_db = _fresh_postgres(args.pg_url, "mandat_bench_delegation")
        runs.append(("PostgreSQL + Redis", [pg_db, "--redis", args.redis_url]))
    rows = []
    for label, extra in runs:
        result = subprocess.run([sys.executable, str(BENCH_DIR / "delegation_check.py"), *extra, "--json"],
                                capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            rows.append({"server": f"Mandat ({label})", "failed": result.stderr[-500:]})
            continue
        data = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append({**data, "server": f"Mandat ({label}), cold", "req_per_s": data["checks_per_s"],
                     "p50_ms": data["p50_ms"], "p99_ms": data["p99_ms"], "errors": 0,
                     "note": f"first check of each delegation (database read); active_for {data['active_for_ms']} ms"})
        rows.append({"server": f"Mandat ({label}), warm", "req_per_s": data["warm_checks_per_s"],
                     "p50_ms": data["warm_p50_ms"], "p99_ms": data["warm_p99_ms"], "errors": 0,
                     "note": "300 delegations checked 10 times each: kept rows, one store read per check"})
    if pg_db:
        _drop_postgres(args.pg_url, "mandat_bench_delegation")
    return rows


def _reachable(pg_url: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def _drop_postgres(pg_url: str, name: str) -> None:
    import asyncpg

    async def drop() -> None:
        admin = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()

    asyncio.run(drop())


# --- the report ---------------------------------------------------------------------------------------------

def _cpu_cell(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}%"


def print_table(flow: str, rows: list[dict[str, Any]]) -> None:
    unit = UNITS.get(flow, "req/s")
    header = (f"{'server':<34} {unit:>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'srv CPU':>8} {'load CPU':>8}"
              f" {'other':>6} {'bg':>5} {'RSS MB':>7}")
    print(f"\n== {flow} ==\n{header}\n{'-' * len(header)}")
    for row in rows:
        if "failed" in row:
            print(f"{row['server']:<34} FAILED: {row['failed']}")
            continue
        rss = row.get("rss_mb")
        print(f"{row['server']:<34} {row['req_per_s']:>9.1f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
              f"{row['errors']:>7} {_cpu_cell(row.get('server_cpu_pct')):>8} {_cpu_cell(row.get('driver_cpu_pct')):>8}"
              f" {_cpu_cell(row.get('other_cpu_pct')):>6} {_cpu_cell(row.get('background_cpu_pct')):>5}"
              f" {'' if rss is None else f'{rss:.0f}':>7}")


def _cell(row: dict[str, Any] | None, unit: str) -> str:
    if row is None:
        return "–"
    if "failed" in row:
        return "failed"
    rate = row["req_per_s"]
    figure = f"{rate:,.0f}" if rate >= 100 else f"{rate:,.1f}"
    errors = f", **{row['errors']} errors**" if row.get("errors") else ""
    return f"{figure} {unit} ({row['p50_ms']:.2f} / {row['p99_ms']:.2f} ms){errors}"


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if not a or not b or "failed" in a or "failed" in b or not b.get("req_per_s"):
        return "–"
    return f"{a['req_per_s'] / b['req_per_s']:.2f}×"


def markdown(results: dict[str, Any]) -> str:
    machine, settings = results["machine"], results["settings"]
    lines = [f"# Mandat benchmark, {results['started']}", "",
             f"- Machine: {machine['cpu_model']}, {machine['cpus']} cores, {machine['memory_gb']} GB, "
             f"{machine['platform']}; Python {machine['python']}; {machine.get('wrk') or 'no wrk'}.",
             f"- Load before: `{results['uptime_before']}`; after: `{results.get('uptime_after', '')}`.",
             f"- How it ran: each server one process on 127.0.0.1 (Mandat {results.get('mandat_backend', '')}, "
             f"{settings['mandat_workers']} worker(s)); measured {settings['duration']} s after {settings['warmup']} s "
             f"of warm-up per flow and server, one server at a time; wrk {settings['threads']} threads × "
             f"{settings['connections']} connections; code flows {settings['users'] or settings['connections']} "
             f"virtual users; password login {settings['login_users']} users; "
             + ("servers pinned to CPU 1 and load generators to CPU 0 (taskset)." if settings["pin"]
                else "no CPU pinning (servers and load generators share both cores)."),
             f"- Mandat's password check: {results.get('mandat_login', '?')}. node-oidc-provider's devInteractions "
             "check no password.",
             "- Latencies are p50 / p99 in ms: one request (wrk) or one whole flow / login (Python driver). Every "
             "response is checked; errors never count as throughput.", "",
             "| flow | Mandat | node-oidc-provider | floor | Mandat / peer | Mandat / floor |",
             "|---|---|---|---|---|---|"]
    for flow in results["flow_order"]:
        rows = results["flows"].get(flow, [])
        unit = UNITS.get(flow, "req/s")
        if flow == "delegation_check":
            for row in rows:
                lines.append(f"| {TITLES[flow]}: {row['server']} | {_cell(row, unit)} | – | – | – | – |")
            continue
        by = {_kind(row["server"]): row for row in rows}
        mandat, peer, floor = by.get("mandat"), by.get("peer"), by.get("floor")
        lines.append(f"| {TITLES[flow]} | {_cell(mandat, unit)} | {_cell(peer, unit)} | {_cell(floor, unit)} | "
                     f"{_ratio(mandat, peer)} | {_ratio(mandat, floor)} |")
    lines += ["", "## Notes per flow", ""]
    for flow in results["flow_order"]:
        for row in results["flows"].get(flow, []):
            parts = [row.get("note") or ""]
            if row.get("server_cpu_pct") is not None:
                parts.append(f"server CPU {row['server_cpu_pct']:.0f}%, load {row.get('driver_cpu_pct', 0):.0f}%, "
                             f"other {row.get('other_cpu_pct', 0):.0f}%, bg {row.get('background_cpu_pct', 0):.0f}%")
            if row.get("rss_mb") is not None:
                parts.append(f"RSS after {row['rss_mb']:.0f} MB")
            if row.get("verification_failures"):
                parts.append(f"**{len(row['verification_failures'])} sample checks failed**")
            lines.append(f"- {flow} / {row['server']}: " + "; ".join(p for p in parts if p))
    return "\n".join(lines) + "\n"


def _kind(server: str) -> str:
    if server.startswith("Mandat"):
        return "mandat"
    if server.startswith("node-oidc-provider"):
        return "peer"
    return "floor"


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def machine_info() -> dict[str, Any]:
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False) if shutil.which("wrk") \
        else None
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "cpu_model": model, "memory_gb": round(memory / 1024 / 1024, 1),
            "wrk": ((wrk.stdout + wrk.stderr).splitlines() or [None])[0] if wrk else None}


def start_targets(args: argparse.Namespace, log_dir: Path) -> list[Target]:
    targets: list[Target] = []
    starters: list[tuple[str, Callable[[], Target]]] = []
    cpus = SERVER_CPU if args.pin else None
    if not args.no_mandat:
        if args.mandat_url:
            starters.append(("Mandat", lambda: remote_mandat(args.mandat_url, args.mandat_client_secret,
                                                             args.mandat_password)))
        else:
            extra_env = dict(item.split("=", 1) for item in args.mandat_env)
            postgres = args.mandat_backend == "postgres"
            starters.append(("Mandat", lambda: start_mandat(
                log_dir, extra_env, args.mandat_client_args, args.mandat_serve_args, cpus=cpus,
                workers=args.mandat_workers, pg_url=args.pg_url if postgres else None,
                redis_url=args.redis_url if postgres else None, delegations=args.delegations)))
    if not args.no_peer:
        starters.append(("node-oidc-provider", lambda: start_peer(log_dir, cpus)))
    if not args.no_floor:
        starters.append(("floor", lambda: start_floor(log_dir, cpus)))
    for name, start in starters:
        try:
            targets.append(start())
        except Exception as exc:  # a server that cannot start is reported, the others still run
            loud(f"{name} did not start: {exc}")
    return targets


def run_flow(flow: str, target: Target, args: argparse.Namespace, done: dict[str, list[dict[str, Any]]]) -> \
        dict[str, Any] | None:
    if flow not in target.flows:
        if flow == "code_flow_passkey" and "code_flow" in target.flows:
            # The peer's login checks nothing: its code flow is the protocol path to compare the passkey flow with.
            same = next((r for r in done.get("code_flow", []) if r["server"] == target.name), None)
            return {**same, "note": "same measurement as its code_flow (its login checks nothing)"} if same else None
        return None
    if flow == "token_exchange" and not (token_exchange_available() and target.extra.get("requested_subject")):
        return {"server": target.name, "failed": "token exchange is not available in this tree"}
    if flow == "code_flow_passkey" and target.authenticator is None:
        return {"server": target.name, "failed": "no security key registered (passkeys off?)"}
    print(f"-- {flow}: {target.name} ({args.duration}s) ...", file=sys.stderr, flush=True)
    if flow in WRK_FLOWS:
        discovery, jwks_json = discover(target)
        spec = WRK_BUILDERS[flow](target, discovery, key_set(jwks_json), args)
        return run_wrk_flow(target, flow, spec, args)
    if flow == "password_login":
        return bench_password_login(target, args)
    return bench_code_flow(target, args, passkey=flow == "code_flow_passkey")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None and set(args.flow_list) & set(WRK_FLOWS):
        loud("wrk is not installed (apt-get install -y wrk)")
        return 2
    if args.pin:
        os.sched_setaffinity(0, {int(LOAD_CPU)})  # this process and its drivers; servers get taskset
    log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results: dict[str, Any] = {"started": started, "uptime_before": _uptime(), "machine": machine_info(),
                               "settings": {k: v for k, v in vars(args).items() if k != "mandat_client_secret"},
                               "flow_order": [f for f in FLOWS if f in args.flow_list], "flows": {}}
    targets = start_targets(args, log_dir)
    mandat = next((t for t in targets if t.name == "Mandat"), None)
    if mandat is not None:
        results["mandat_login"] = mandat.login_note
        results["mandat_backend"] = mandat.extra.get("backend", "")
    try:
        for flow in results["flow_order"]:
            if flow == "delegation_check":
                rows = [] if args.no_mandat else bench_delegation_check(args)
            else:
                rows = []
                for target in targets:
                    try:
                        row = run_flow(flow, target, args, results["flows"])
                    except Exception as exc:  # report and go on with the next server
                        loud(f"{target.name} {flow} failed: {type(exc).__name__}: {exc}")
                        row = {"server": target.name, "failed": f"{type(exc).__name__}: {exc}"}
                    if row is not None:
                        rows.append(row)
            results["flows"][flow] = rows
            print_table(flow, rows)
    finally:
        for target in targets:
            if target.process:
                target.process.stop()
        if args.keep_logs:
            print(f"\nlogs: {log_dir}", file=sys.stderr)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    results["uptime_after"] = _uptime()
    out_dir = BENCH_DIR / "results"
    out_dir.mkdir(exist_ok=True)
    stem = started.replace(":", "")
    (out_dir / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
    table = markdown(results)
    (out_dir / f"{stem}.md").write_text(table)
    print("\n" + table)
    print(f"results: {out_dir / stem}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
