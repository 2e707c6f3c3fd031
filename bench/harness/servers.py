"""Start each server under test as ONE process on 127.0.0.1, wait until it answers, and stop it afterwards.

Every server exposes `/.well-known/openid-configuration` (the floor a minimal one), which is also the
readiness probe. `Target` is what the drivers need to know about a running server.
"""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from .webauthn import SoftAuthenticator

__all__ = [
    "BENCH_DIR",
    "REDIRECT_URI",
    "ServerProcess",
    "Target",
    "free_port",
    "remote_mandat",
    "start_floor",
    "start_mandat",
    "start_peer",
]

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
PEER_DIR = BENCH_DIR / "peer"
REDIRECT_URI = "http://127.0.0.1:9999/cb"
READY_TIMEOUT = 60.0


@dataclass
class Target:
    """A server the drivers can load: where it is, how to authenticate, which form fields its login uses."""

    name: str
    issuer: str
    client_id: str
    client_secret: str
    username: str = "alice"
    password: str = "bench-password-alice"
    # Extra form fields for client_credentials (e.g. a scope); the grant_type is always sent.
    cc_extra: dict[str, str] = field(default_factory=dict)
    # Scope requested in the code flow.
    code_scope: str = "openid profile"
    # Name of the username field in the login form (`login` for node-oidc-provider's devInteractions).
    username_field: str = "username"
    flows: tuple[str, ...] = ("client_credentials", "code_flow")
    process: ServerProcess | None = None
    # Signs in with this software security key instead of the password form, when set (Mandat's passkey flow).
    authenticator: SoftAuthenticator | None = None
    # What the server's login checks, said next to its figures (the argon2 parameters, or "no password check").
    login_note: str = ""
    # Extra facts a flow needs (token exchange: the principal's sub, the exchange client's secret, …).
    extra: dict[str, str] = field(default_factory=dict)


class ServerProcess:
    """One child process with its log file; stopped with SIGTERM, then SIGKILL. `cpus` pins it (taskset -c)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log_dir: Path,
                 cpus: str | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        if cpus:
            argv = ["taskset", "-c", cpus, *argv]
        self.popen = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and its children still alive, from /proc (Linux only)."""
        total = 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        for pid in _process_tree(self.pid):
            try:
                fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields_[11]) + int(fields_[12])) / ticks
        return total

    def rss_mb(self) -> float:
        """Resident memory of the process and its children (workers), in MB, from /proc."""
        total = 0
        for pid in _process_tree(self.pid):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return round(total / 1024, 1)

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._log.close()


def _process_tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(target: Target, timeout: float = READY_TIMEOUT) -> None:
    """Poll discovery until it answers 200; fail with the server's log if it dies or times out."""
    url = f"{target.issuer}/.well-known/openid-configuration"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.process is not None and target.process.popen.poll() is not None:
            raise RuntimeError(f"{target.name} exited with {target.process.popen.returncode}:\n"
                               f"{target.process.log_tail()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    tail = target.process.log_tail() if target.process else ""
    raise RuntimeError(f"{target.name} not ready at {url} after {timeout:.0f}s\n{tail}")


def start_floor(log_dir: Path, cpus: str | None = None) -> Target:
    port = free_port()
    proc = ServerProcess("floor", [sys.executable, str(BENCH_DIR / "floor.py"), "--port", str(port)],
                         dict(os.environ), REPO_DIR, log_dir, cpus)
    target = Target(name="floor (Starlette+joserfc)", issuer=f"http://127.0.0.1:{port}", client_id="bench-client",
                    client_secret="bench-secret", flows=("client_credentials",), process=proc)
    wait_ready(target)
    return target


def _peer_node() -> Path:
    node = PEER_DIR / "node_modules" / ".bin" / "node"
    if not (PEER_DIR / "node_modules" / "oidc-provider").is_dir() or not node.exists():
        print("bench/peer/node_modules missing: running npm ci", file=sys.stderr)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True)
    return node


def start_peer(log_dir: Path, cpus: str | None = None) -> Target:
    node = _peer_node()
    version = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    proc = ServerProcess("peer", [str(node), "server.js", str(port)], dict(os.environ), PEER_DIR, log_dir, cpus)
    target = Target(name=f"node-oidc-provider (Node {version.lstrip('v')})", issuer=f"http://127.0.0.1:{port}",
                    client_id="bench-client", client_secret="bench-secret", username_field="login",
                    flows=("client_credentials", "code_flow", "refresh", "userinfo", "introspection"),
                    login_note="devInteractions: no password check", process=proc)
    wait_ready(target)
    return target


# --- Mandat -----------------------------------------------------------------------------------------------
# Everything Mandat-specific is here, so the lead can adjust it as the CLI settles.

# Delegated scopes (MANDAT_DELEGATION_SCOPES) the token-exchange flow asks for; the client may request them.
DELEGATED_SCOPES = "mssante.read appointments.manage"
MANDAT_CLIENT_SCOPE = f"openid profile offline_access {DELEGATED_SCOPES}"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_EXCHANGE_GRANT_FILE = REPO_DIR / "idp" / "oidc" / "grant_types" / "token_exchange.py"
# The token-exchange actor: a second person, so alice's flows never meet an "act as" page.
ACTOR_USERNAME, ACTOR_PASSWORD = "carol", "bench-password-carol"
MANDAT_FLOWS = ("client_credentials", "code_flow", "code_flow_passkey", "refresh", "userinfo", "introspection",
                "token_exchange", "password_login")


def token_exchange_available() -> bool:
    return TOKEN_EXCHANGE_GRANT_FILE.exists()


def _mandat_client_add_argv(extra: str) -> list[str]:
    # Same client as the peer's: confidential, client_secret_basic, the same grant types and redirect URI, consent
    # page shown; plus token exchange (Mandat only) when the grant exists.
    grants = ["authorization_code", "refresh_token", "client_credentials"]
    if token_exchange_available():
        grants.append(TOKEN_EXCHANGE)
    return ["client", "add", "--client-id", "bench-client", "--redirect-uri", REDIRECT_URI,
            "--scope", MANDAT_CLIENT_SCOPE, "--auth-method", "client_secret_basic",
            *[arg for grant in grants for arg in ("--grant-type", grant)], "--name", "Bench client",
            *shlex.split(extra)]


_SECRET_LINE = re.compile(r"secret\W*[:=]?\s*([A-Za-z0-9_\-.~+/=]{16,})", re.IGNORECASE)
_TOKENISH = re.compile(r"^[A-Za-z0-9_\-.~+/=]{20,}$")


def parse_client_secret(output: str) -> str:
    """Find the secret `idp client add` prints once: a `secret: X` / `client_secret=X` line, else a lone token."""
    match = _SECRET_LINE.search(output)
    if match:
        return match.group(1)
    lone = [word for line in output.splitlines() for word in line.split() if _TOKENISH.match(word)]
    if len(lone) == 1:
        return lone[0]
    raise RuntimeError(f"could not find the client secret in `idp client add` output:\n{output}")


def _mandat_cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    argv = [sys.executable, "-m", "idp", *args]
    result = subprocess.run(argv, cwd=REPO_DIR, env=env, input=stdin, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"`{shlex.join(argv[1:])}` failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout + result.stderr


def argon2_note(env: dict[str, str]) -> str:
    """The argon2id parameters Mandat hashes alice's password with (its settings' defaults unless overridden)."""
    from idp.settings import Settings

    settings = Settings.from_env(env)
    return (f"argon2id m={settings.argon2_memory_kib} KiB, t={settings.argon2_time_cost}, "
            f"p={settings.argon2_parallelism}")


def _fresh_postgres(pg_url: str, name: str) -> str:
    """Drop and create database `name` on the server of `pg_url`; return its SQLAlchemy URL."""
    import asyncio

    import asyncpg

    async def recreate() -> None:
        admin = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {name}")
        finally:
            await admin.close()

    asyncio.run(recreate())
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


def start_mandat(log_dir: Path, extra_env: dict[str, str], client_args: str, serve_args: str, *,
                 cpus: str | None = None, workers: int = 1, pg_url: str | None = None, redis_url: str | None = None,
                 delegations: int = 10_000) -> Target:
    """Fresh database (SQLite in a temp dir, or a fresh PostgreSQL database) and keys; migrate, add the client,
    alice and the token-exchange fixtures, serve, then register alice's software security key."""
    work = Path(tempfile.mkdtemp(prefix="mandat-bench-", dir=log_dir))
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    keys = work / "keys"
    keys.mkdir(mode=0o700)
    env = dict(os.environ)
    database = _fresh_postgres(pg_url, "mandat_bench_run") if pg_url else f"sqlite+aiosqlite:///{work / 'mandat.db'}"
    # WebAuthn needs a domain as RP id: the issuer stays 127.0.0.1 (every request goes there), the key is bound
    # to "localhost" and the software authenticator reports the localhost origin.
    origin = f"http://localhost:{port}"
    env.update({"MANDAT_DATABASE_URL": database, "MANDAT_KEYS_DIR": str(keys), "MANDAT_ISSUER": issuer,
                "MANDAT_PASSKEYS_RP_ID": "localhost", "MANDAT_PASSKEYS_ORIGINS": origin})
    if redis_url:
        env["MANDAT_REDIS_URL"] = redis_url
    env.update(extra_env)
    backend = "PostgreSQL + Redis" if pg_url else "SQLite + in-process store"
    target = Target(name="Mandat", issuer=issuer, client_id="bench-client", client_secret="",
                    flows=MANDAT_FLOWS, login_note=argon2_note(env), extra={"backend": backend,
                                                                           "workers": str(workers)})
    _mandat_cli(["migrate"], env)
    target.client_secret = parse_client_secret(_mandat_cli(_mandat_client_add_argv(client_args), env))
    _mandat_cli(["account", "add", "--username", target.username, "--password-stdin"], env,
                stdin=target.password + "\n")
    if token_exchange_available():
        result = subprocess.run(
            [sys.executable, "-m", "bench.harness.mandat_setup", str(delegations), ACTOR_USERNAME, ACTOR_PASSWORD,
             target.client_id, DELEGATED_SCOPES], cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"token-exchange fixtures failed:\n{result.stdout}{result.stderr}")
        target.extra.update(json.loads(result.stdout.strip().splitlines()[-1]))
        target.extra["delegations"] = str(delegations)
    argv = [sys.executable, "-m", "idp", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
            str(workers), *shlex.split(serve_args)]
    target.process = ServerProcess("mandat", argv, env, REPO_DIR, log_dir, cpus)
    wait_ready(target)
    target.authenticator = register_passkey(target, origin)
    return target


def register_passkey(target: Target, origin: str) -> SoftAuthenticator:
    """Sign alice in with her password at /account/login, then register a software key as passkeys.js would."""
    authenticator = SoftAuthenticator(origin=origin)
    with httpx.Client(base_url=target.issuer, timeout=30) as http:
        page = http.get("/account/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if csrf is None:
            raise RuntimeError("no CSRF token on /account/login")
        signed_in = http.post("/account/login", data={"csrf_token": html.unescape(csrf.group(1)),
                                                       "username": target.username, "password": target.password})
        if signed_in.status_code != 303:
            raise RuntimeError(f"alice could not sign in to register a key: {signed_in.status_code}")
        account = http.get("/account/passkeys/new")
        token = re.search(r'data-csrf="([^"]+)"', account.text)
        if token is None:
            raise RuntimeError("no data-csrf on /account/passkeys/new")
        headers = {"x-csrf-token": html.unescape(token.group(1))}
        begun = http.post("/account/passkeys/options", json={}, headers=headers)
        if begun.status_code != 200:
            raise RuntimeError(f"passkey registration options: {begun.status_code} {begun.text[:300]}")
        started = begun.json()
        finished = http.post("/account/passkeys/register", headers=headers, json={
            "ceremony": started["ceremony"], "credential": authenticator.register(started["options"]),
            "name": "bench key"})
        if finished.status_code != 200:
            raise RuntimeError(f"passkey registration: {finished.status_code} {finished.text[:300]}")
    return authenticator


def remote_mandat(url: str, client_secret: str, password: str) -> Target:
    """A Mandat someone else started (`--mandat-url`); its issuer must be `url`."""
    target = Target(name="Mandat", issuer=url.rstrip("/"), client_id="bench-client", client_secret=client_secret,
                    password=password)
    wait_ready(target, timeout=10)
    return target
