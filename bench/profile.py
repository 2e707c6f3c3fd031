"""Profile Mandat under one wrk flow with py-spy: a flame graph (SVG) and the top functions by own and total time.

    .venv/bin/pip install py-spy            # once (PyPI)
    .venv/bin/python bench/profile.py --flows client_credentials,userinfo,introspection,refresh --duration 10

Starts a bench Mandat exactly as bench/run.py does (one process, SQLite + in-process store unless
--mandat-backend postgres), drives each flow with wrk for --duration seconds while `py-spy record` samples the
server (`--gil`: only the thread holding the GIL, i.e. the event loop's Python work, plus --idle off), and writes
bench/results/profile-<time>-<flow>.svg and .txt (collapsed stacks summarised: the 25 heaviest functions by
inclusive and by own samples). A report, not a test; 127.0.0.1 only, bounded in time.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.code_flow import run_code_flow_processes
from bench.harness.servers import BENCH_DIR, Target, start_mandat
from bench.harness.wrk import run_wrk_script
from bench.run import WRK_BUILDERS, discover, key_set, parse_args

_LINE = re.compile(r":\d+\)$")


def _stacks(collapsed: Path) -> Iterator[tuple[list[str], int]]:
    """The (frames, sample count) pairs of py-spy's collapsed stacks ("a;b;c N"), skipping empty stacks."""
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            yield stack.split(";"), int(count)


def summarise(collapsed: Path, top: int = 25) -> str:
    """Inclusive and own sample counts per function from py-spy's collapsed stacks ("a;b;c N")."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for stack, n in _stacks(collapsed):
        total += n
        frames = [_LINE.sub(")", frame) for frame in stack]  # per function, not per line
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    lines = [f"{total} samples", "", "inclusive %  function (Mandat's own code, and what it calls into first)"]
    ours = [(frame, n) for frame, n in inclusive.most_common() if "idp/" in frame][:top]
    lines += [f"{100 * n / total:10.1f}  {frame}" for frame, n in ours]
    lines += ["", "own %  function"]
    lines += [f"{100 * n / total:6.1f}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


# py-spy flags per --threads choice.
SAMPLING = {"gil": ["--gil"], "all": ["--threads"], "native": ["--threads", "--native"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--flows", default="client_credentials,userinfo,introspection,refresh,token_exchange")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--threads", dest="sample_threads", choices=("gil", "all", "native"), default="gil",
                        help="gil: only the thread holding the GIL (where Python time goes); all: every busy thread, "
                             "the database driver's included; native: all, with C frames (SQLite, OpenSSL)")
    known, rest = parser.parse_known_args()
    if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    args = parse_args(rest)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    postgres = args.mandat_backend == "postgres"
    target = start_mandat(log_dir, dict(item.split("=", 1) for item in args.mandat_env), args.mandat_client_args,
                          args.mandat_serve_args, pg_url=args.pg_url if postgres else None,
                          redis_url=args.redis_url if postgres else None, delegations=args.delegations)
    assert target.process is not None
    out_dir = BENCH_DIR / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    try:
        for flow in known.flows.split(","):
            discovery, jwks = discover(target)
            load: Callable[[], str]
            if flow in WRK_BUILDERS:
                spec = WRK_BUILDERS[flow](target, discovery, key_set(jwks), args)
                run_wrk_script(spec.url, spec.script("warmup"), threads=args.threads,
                               connections=args.connections, duration=3)
                load = functools.partial(_wrk_load, spec.url, spec.script("measure"), args, known.duration)
            elif flow in ("code_flow", "code_flow_passkey"):
                walker = dataclasses.replace(target, authenticator=target.authenticator
                                             if flow == "code_flow_passkey" else None)
                users = args.users or args.connections
                run_code_flow_processes(walker, discovery, jwks, users, 3, args.driver_processes)
                load = functools.partial(_flow_load, walker, discovery, jwks, users, known.duration,
                                         args.driver_processes)
            else:
                raise SystemExit(f"cannot profile {flow}")
            base = out_dir / f"profile-{stamp}-{flow}"
            raw = base.with_suffix(".collapsed")
            spy = subprocess.Popen([py_spy, "record", "--pid", str(target.process.pid), "--rate", str(known.rate),
                                    "--duration", str(known.duration), *SAMPLING[known.sample_threads],
                                    "--format", "raw", "--output", str(raw)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            outcome = load()
            spy.wait(timeout=known.duration + 60)
            report = f"{flow}: {outcome}\n\n" + summarise(raw)
            base.with_suffix(".txt").write_text(report)
            _flamegraph(raw, base.with_suffix(".svg"))
            print(f"== {flow} ==\n{report}\nflame graph: {base.with_suffix('.svg')}\n")
    finally:
        target.process.stop()
        shutil.rmtree(log_dir, ignore_errors=True)
    return 0


def _wrk_load(url: str, script: str, args: argparse.Namespace, duration: int) -> str:
    result = run_wrk_script(url, script, threads=args.threads, connections=args.connections, duration=duration)
    return f"{result.req_per_s:.0f} req/s under py-spy, {result.errors} errors"


def _flow_load(walker: Target, discovery: dict[str, Any], jwks: dict[str, Any], users: int, duration: int,
               processes: int) -> str:
    stats = run_code_flow_processes(walker, discovery, jwks, users, duration, processes).summary()
    return f"{stats['flows_per_s']} flows/s under py-spy, {stats['errors']} errors"


def _flamegraph(collapsed: Path, svg: Path) -> None:
    """A minimal SVG flame graph from collapsed stacks (py-spy's own SVG needs a second recording)."""
    root: dict[str, object] = {}

    def node(children: dict[str, object], name: str) -> dict[str, object]:
        child = children.get(name)
        if child is None:
            child = children[name] = {"n": 0, "c": {}}
        return child  # type: ignore[return-value]

    total = 0
    for stack, n in _stacks(collapsed):
        total += n
        level: dict[str, object] = root
        for frame in stack:
            item = node(level, frame)
            item["n"] = int(item["n"]) + n  # type: ignore[call-overload]
            level = item["c"]  # type: ignore[assignment]
    width, row = 1800.0, 16
    rects: list[str] = []

    def draw(children: dict[str, object], x: float, depth: int) -> None:
        for name, item in sorted(children.items(), key=lambda kv: -int(kv[1]["n"])):  # type: ignore[index]
            n = int(item["n"])  # type: ignore[index]
            w = width * n / total
            if w >= 0.5:
                label = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                hue = 20 + (hash(name.split(" ")[0]) % 40)
                rects.append(f'<g><title>{label} ({100 * n / total:.1f}%)</title><rect x="{x:.1f}" y="{depth * row}" '
                             f'width="{w:.1f}" height="{row - 1}" fill="hsl({hue},80%,60%)"/>'
                             + (f'<text x="{x + 2:.1f}" y="{depth * row + 12}" font-size="10">'
                                f'{label[: int(w / 6)]}</text>' if w > 30 else "") + "</g>")
                draw(item["c"], x, depth + 1)  # type: ignore[arg-type, index]
            x += w

    draw(root, 0.0, 0)
    height = (max((int(r.split('y="')[1].split('"')[0]) for r in rects), default=0) + 2 * row)
    svg.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
                   f'font-family="monospace">{"".join(rects)}</svg>\n')


if __name__ == "__main__":
    sys.exit(main())
