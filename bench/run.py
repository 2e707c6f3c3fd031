"""Benchmark Mandat side by side with node-oidc-provider (Node 22) and the floor, in one run.

    python bench/run.py [--duration 10] [--connections 32] [--only client_credentials|code_flow]
                        [--mandat-url URL] [--no-mandat] [--no-peer]

Every server is ONE process on 127.0.0.1; every load is bounded in time and stops by itself.
Prints one table per flow and writes the figures to bench/results/<UTC time>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
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

import httpx
from joserfc.jwk import KeySet, KeySetSerialization

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.code_flow import run_code_flow_processes
from bench.harness.cpu import metered
from bench.harness.servers import (
    BENCH_DIR,
    Target,
    remote_mandat,
    start_floor,
    start_mandat,
    start_peer,
)
from bench.harness.verify import check_access_token
from bench.harness.wrk import run_wrk

FLOWS = ("client_credentials", "code_flow")
SAMPLE_TOKENS = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of measured load per server and flow")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of unmeasured load before each measurement")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (client_credentials)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--users", type=int, default=None,
                        help="virtual users for code_flow (default: --connections)")
    parser.add_argument("--driver-processes", type=int, default=1,
                        help="processes sharing the code_flow virtual users (one Python process saturates one core)")
    parser.add_argument("--only", choices=FLOWS, help="run one flow only")
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
    parser.add_argument("--cc-scope", default="", help="scope sent with client_credentials (default: none)")
    parser.add_argument("--no-mandat", action="store_true", help="skip Mandat")
    parser.add_argument("--no-peer", action="store_true", help="skip node-oidc-provider")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and Mandat's temp dir")
    return parser.parse_args(argv)


def loud(message: str) -> None:
    print(f"\n!!! {message}\n", file=sys.stderr, flush=True)


def discover(target: Target) -> tuple[dict[str, Any], dict[str, Any]]:
    """The server's discovery document and its JWKS (as JSON, so it can be handed to driver processes)."""
    discovery = httpx.get(f"{target.issuer}/.well-known/openid-configuration", timeout=10).json()
    if discovery.get("issuer") != target.issuer:
        loud(f"{target.name}: discovery issuer {discovery.get('issuer')!r} != {target.issuer!r}")
    jwks = httpx.get(discovery["jwks_uri"], timeout=10).json()
    return discovery, jwks


def cc_form(target: Target, scope: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", **target.cc_extra}
    if scope:
        form["scope"] = scope
    return form


def sample_client_credentials(target: Target, discovery: dict[str, Any], jwks: KeySet,
                              form: dict[str, str]) -> list[str]:
    """Fetch a few tokens the way wrk does and verify each; return the problems found."""
    problems = []
    with httpx.Client(timeout=10) as client:
        for _ in range(SAMPLE_TOKENS):
            response = client.post(discovery["token_endpoint"], data=form,
                                   auth=(target.client_id, target.client_secret))
            if response.status_code != 200 or "access_token" not in response.text:
                problems.append(f"HTTP {response.status_code}: {response.text[:200]}")
                continue
            problems += check_access_token(response.json()["access_token"], jwks, target.issuer, target.client_id)
    return problems


def bench_client_credentials(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    discovery, jwks_json = discover(target)
    jwks = KeySet.import_key_set(cast(KeySetSerialization, jwks_json))
    form = cc_form(target, args.cc_scope)
    report: dict[str, Any] = {"server": target.name, "form": form}
    before = sample_client_credentials(target, discovery, jwks, form)
    if before:
        loud(f"{target.name} client_credentials: tokens fail verification BEFORE load:\n  " + "\n  ".join(before))

    def load(seconds: int) -> Any:
        return run_wrk(discovery["token_endpoint"], target.client_id, target.client_secret, form,
                       threads=args.threads, connections=args.connections, duration=seconds)

    if args.warmup:
        load(args.warmup)
    result, share, wrk_cpu = metered(target, lambda: load(args.duration))
    after = sample_client_credentials(target, discovery, jwks, form)
    if after:
        loud(f"{target.name} client_credentials: tokens fail verification AFTER load:\n  " + "\n  ".join(after))
    if result.errors:
        loud(f"{target.name} client_credentials: {result.errors} bad responses under load "
             f"(non-200 {result.non200}, no access_token {result.missing_access_token}, "
             f"socket {result.socket_errors})")
    report.update({"requests": result.requests, "req_per_s": result.req_per_s, "p50_ms": result.p50_ms,
                   "p99_ms": result.p99_ms, "errors": result.errors, "non200": result.non200,
                   "missing_access_token": result.missing_access_token, "socket_errors": result.socket_errors,
                   "verification_failures": before + after, **share.with_driver(wrk_cpu),
                   "wrk_output": result.raw})
    return report


def bench_code_flow(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    discovery, jwks = discover(target)
    users = args.users or args.connections
    procs = args.driver_processes
    warmup_errors: dict[str, int] = {}
    warmup_samples: list[str] = []
    if args.warmup:
        warm = run_code_flow_processes(target, discovery, jwks, users, args.warmup, procs)
        warmup_errors, warmup_samples = warm.errors, warm.error_samples
        if warm.errors:
            loud(f"{target.name} code_flow warm-up errors {warm.errors}:\n  " + "\n  ".join(warm.error_samples))
    stats, share, _children = metered(
        target, lambda: run_code_flow_processes(target, discovery, jwks, users, args.duration, procs))
    summary = stats.summary()
    if summary["errors"]:
        loud(f"{target.name} code_flow: {summary['errors']} failed flows {stats.errors}:\n  "
             + "\n  ".join(stats.error_samples))
    # The driver measures its own CPU in each process (pool workers are reaped late, if ever, by the pool).
    summary.update({"server": target.name, "req_per_s": summary["flows_per_s"], "warmup_errors": warmup_errors,
                    "warmup_error_samples": warmup_samples,
                    **share.with_driver(stats.driver_cpu_seconds)})
    return summary


def _cpu_cell(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}%"


def print_table(flow: str, rows: list[dict[str, Any]]) -> None:
    unit = "flows/s" if flow == "code_flow" else "req/s"
    header = (f"{'server':<34} {unit:>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'srv CPU':>8} {'load CPU':>8}"
              f" {'other':>6} {'bg':>5}")
    print(f"\n== {flow} ==\n{header}\n{'-' * len(header)}")
    for row in rows:
        if "failed" in row:
            print(f"{row['server']:<34} FAILED: {row['failed']}")
            continue
        print(f"{row['server']:<34} {row['req_per_s']:>9.1f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
              f"{row['errors']:>7} {_cpu_cell(row.get('server_cpu_pct')):>8} {_cpu_cell(row.get('driver_cpu_pct')):>8}"
              f" {_cpu_cell(row.get('other_cpu_pct')):>6} {_cpu_cell(row.get('background_cpu_pct')):>5}")
    print("CPU in % of one core (200% = both): srv = the server process, load = wrk or the Python driver,\n"
          "other = the rest of the machine meanwhile (incl. kernel loopback work), bg = machine busy in an idle\n"
          "second before the run (other tenants: above a few %, do not trust the run). A load generator near\n"
          "100% per process set the pace itself: the figure is then a lower bound for that server.")


def machine_info() -> dict[str, Any]:
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "wrk": (wrk.stdout + wrk.stderr).splitlines()[0] if (wrk.stdout + wrk.stderr) else None}


def start_targets(args: argparse.Namespace, log_dir: Path) -> list[Target]:
    targets: list[Target] = []
    starters: list[tuple[str, Callable[[], Target]]] = []
    if not args.no_mandat:
        if args.mandat_url:
            starters.append(("Mandat", lambda: remote_mandat(args.mandat_url, args.mandat_client_secret,
                                                             args.mandat_password)))
        else:
            extra_env = dict(item.split("=", 1) for item in args.mandat_env)
            starters.append(("Mandat", lambda: start_mandat(log_dir, extra_env, args.mandat_client_args,
                                                            args.mandat_serve_args)))
    if not args.no_peer:
        starters.append(("node-oidc-provider", lambda: start_peer(log_dir)))
    if not args.no_floor:
        starters.append(("floor", lambda: start_floor(log_dir)))
    for name, start in starters:
        try:
            targets.append(start())
        except Exception as exc:  # a server that cannot start is reported, the others still run
            loud(f"{name} did not start: {exc}")
    return targets


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None and args.only != "code_flow":
        loud("wrk is not installed (apt-get install -y wrk)")
        return 2
    log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    flows = [args.only] if args.only else list(FLOWS)
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine_info(),
                               "settings": {k: v for k, v in vars(args).items() if k != "mandat_client_secret"},
                               "flows": {}}
    targets = start_targets(args, log_dir)
    try:
        for flow in flows:
            rows = []
            for target in targets:
                if flow not in target.flows:
                    continue
                print(f"-- {flow}: {target.name} ({args.duration}s) ...", file=sys.stderr, flush=True)
                try:
                    rows.append(bench_client_credentials(target, args) if flow == "client_credentials"
                                else bench_code_flow(target, args))
                except Exception as exc:  # report and go on with the next server
                    loud(f"{target.name} {flow} failed: {type(exc).__name__}: {exc}")
                    rows.append({"server": target.name, "failed": f"{type(exc).__name__}: {exc}"})
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
    out_dir = BENCH_DIR / "results"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"{results['started'].replace(':', '')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
