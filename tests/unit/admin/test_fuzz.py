"""Schemathesis against the live admin API: the OpenAPI document the server publishes drives the requests (valid
and invalid ones, 50 examples per operation), sent with a valid admin bearer token so they reach the handlers,
over HTTP to a real uvicorn on 127.0.0.1. Every response must be documented (status, content type, headers)
and match its schema; no request may end in a 5xx.

The server runs in a thread of its own (its own event loop), seeded with an admin client holding every admin
scope and a few people, so that some generated ids and bodies hit real rows.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from idp.app import create_app
from idp.container import build_container
from tests.conftest import free_port, make_settings
from tests.unit.admin.conftest import ALL_SCOPES, API

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
EXAMPLES = int(os.environ.get("MANDAT_FUZZ_EXAMPLES", "50"))
# A bound, not a budget: 50 examples per operation take about 40 s here (2,400 requests).
MAX_SECONDS = int(os.environ.get("MANDAT_FUZZ_SECONDS", "240"))


@dataclass(frozen=True)
class Live:
    base: str
    token: str


async def _seed(settings_dir: Path, database_url: str, issuer: str) -> str:
    settings = make_settings(settings_dir, database_url, MANDAT_ISSUER=issuer)
    container = build_container(settings)
    try:
        created = await container.clients.register(client_id="ops", redirect_uris=[], scopes=ALL_SCOPES.split(),
                                                   grant_types=["client_credentials"])
        await container.accounts.create(username="alice", password=None, given_name="Alice", family_name="Martin")
        await container.accounts.create(username="staff", password=None, kind="staff")
        assert created.secret is not None
        return created.secret
    finally:
        await container.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    base = f"http://localhost:{port}"
    database = tmp / "fuzz.db"
    shutil.copy(sqlite_template, database)
    url = f"sqlite+aiosqlite:///{database}"
    secret = asyncio.run(_seed(tmp, url, base))
    app = create_app(make_settings(tmp, url, MANDAT_ISSUER=base))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="fuzzed-idp", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    token = httpx.post(f"{base}/token", data={"grant_type": "client_credentials", "scope": ALL_SCOPES},
                       auth=("ops", secret), timeout=10).json()["access_token"]
    try:
        yield Live(base, token)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def test_admin_api_conforms_to_its_openapi(live: Live, tmp_path: Path) -> None:
    """`schemathesis run` as an operator would: every phase (examples, coverage, fuzzing, stateful), valid and
    invalid inputs, every default check. The summary is printed (pytest -s shows it) and kept in the failure."""
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(HERE / "schemathesis.toml"),
        "run", f"{live.base}{API}/openapi.json",
        "--header", f"Authorization: Bearer {live.token}", "--max-examples", str(EXAMPLES), "--seed", "20261208",
        "--workers", "1", "--request-timeout", "10", "--generation-database", "none", "--no-color",
        "--suppress-health-check", "all",
    ]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": "tests.unit.admin.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=MAX_SECONDS, check=False,
                            env=env)
    (Path(os.environ.get("MANDAT_FUZZ_LOG", tmp_path / "schemathesis.log"))).write_text(result.stdout)
    summary = result.stdout[-6000:]
    print(summary)
    assert result.returncode == 0, summary + result.stderr[-2000:]
    counted = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert counted and counted.group(1) == counted.group(2) and int(counted.group(1)) >= 20 * EXAMPLES, summary
