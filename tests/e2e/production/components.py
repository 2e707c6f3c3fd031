"""Real components for the production topology, as processes this test run owns (so it may stop and kill them).

- `PrivatePostgres`: an `initdb` cluster on a free port, run by `pg_ctl` (as the `postgres` user when we are
  root: PostgreSQL refuses to run as root). Not the shared system server, which other tests use.
- `PrivateRedis`: `redis-server` on a free port, no persistence.
- `IdpProcess`: `python -m idp serve` with its own environment, log file and metrics port.

Every start waits for the component to answer, and every stop is bounded; a component that cannot start
skips the test with the reason (fails it under MANDAT_CI=1).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port, port_open, unavailable

REPO = Path(__file__).resolve().parents[3]


def wait_until(check: Callable[[], bool], timeout: float, what: str, process: subprocess.Popen[bytes] | None = None,
               log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"{what} exited with {process.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"{what} not ready after {timeout} s:\n{tail}")
        time.sleep(0.05)


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres() -> list[str]:
    """Prefix to run PostgreSQL's programs: as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        unavailable("running as root and there is no postgres user to run a private PostgreSQL")
    return ["runuser", "-u", "postgres", "--"]


class PrivatePostgres:
    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed (apt-get install postgresql)")
        assert initdb and pg_ctl
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.prefix = _as_postgres()
        # Outside pytest's tmp folders: those are root-only, and the server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="mandat-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        if self.prefix:
            shutil.chown(self.root, "postgres")
        self._run([self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--no-sync"], timeout=120)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                       "fsync = off\nmax_connections = 200\nshared_buffers = 32MB\n")

    def _run(self, argv: list[str], timeout: float) -> None:
        done = subprocess.run([*self.prefix, *argv], capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv[:2])} failed: {done.stderr.decode(errors='replace')[-2000:]}")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/mandat"

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._run([self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"], timeout=90)

    def stop(self, mode: str = "fast") -> None:
        self._run([self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"], timeout=90)

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash): its backends die with it; the next start runs crash recovery."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), 10, "postgres to die")
        # Orphaned backends notice the dead postmaster and exit; wait until the port is free.
        wait_until(lambda: not port_open("127.0.0.1", self.port), 20, "postgres port to close")
        # Nobody may reap the dead postmaster (pg_ctl, its parent, has exited): as a zombie it still "exists" for
        # the next start's stale-lock check. It is dead; its lock file goes.
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def running(self) -> bool:
        return port_open("127.0.0.1", self.port)

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (AssertionError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child still answers kill(0); it is dead for our purpose.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class PrivateRedis:
    def __init__(self, root: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed (apt-get install redis-server)")
        assert binary
        self.binary = binary
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = root / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--logfile", str(self.log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open("127.0.0.1", self.port), 10, "redis", self.process, self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class Nginx:
    @staticmethod
    def binary_path() -> str:
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if binary is None:
            unavailable("nginx is not installed (apt-get install nginx)")
        assert binary
        return binary


@dataclass
class IdpProcess:
    """One `python -m idp serve` process (a host of the topology)."""

    name: str
    env: dict[str, str]
    root: Path
    workers: int = 1
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.root / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60) -> None:
        env = {**self.env, "MANDAT_METRICS_BIND": f"127.0.0.1:{self.metrics_port}",
               "MANDAT_METRICS_DIR": str(self.root / f"{self.name}-metrics")}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "idp", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers), "--access-log"], env=env, cwd=self.root, stdout=log, stderr=log,
                start_new_session=True)
        wait_until(self.healthy, timeout, f"IdP {self.name}", self.process, self.log)

    def healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig) if sig == signal.SIGKILL else self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
