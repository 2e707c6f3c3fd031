"""The production topology as real processes: nginx (TLS, load balancing) → two `python -m idp serve` processes →
a private PostgreSQL and a private Redis. Built once per module (about 10 s) and repaired by the tests that
break it.

Forcing a step onto a process: the test's nginx adds, to the deploy template, one upstream per process and a
map from the `X-Mandat-Pin` request header to it (absent: the balanced upstream `mandat`), and answers which
process served each request in `X-Mandat-Upstream`. Nothing of that is in deploy/: production clients cannot
pick a process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import re
import ssl
import string
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idp.container import build_container
from idp.settings import Settings
from tests.conftest import PASSWORD, REDIRECT, free_port, port_open
from tests.e2e.production.components import REPO, IdpProcess, PrivatePostgres, PrivateRedis, wait_until

TEMPLATE = REPO / "deploy" / "nginx" / "templates" / "mandat.conf.template"
USERS = ("alice", "bob", "carol", "dave")


def self_signed(out: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = out / "tls.pem", out / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def render_nginx(root: Path, port: int, upstreams: list[int], tls: tuple[Path, Path]) -> str:
    """deploy/nginx/templates/mandat.conf.template filled in as the nginx image would, plus the test's pinning."""
    servers = " ".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstreams)
    site = string.Template(TEMPLATE.read_text()).safe_substitute(
        MANDAT_UPSTREAM_SERVERS=servers, MANDAT_HTTPS_LISTEN=f"127.0.0.1:{port}", MANDAT_SERVER_NAME="localhost",
        MANDAT_TLS_CERT=str(tls[0]), MANDAT_TLS_KEY=str(tls[1]), MANDAT_CERT_HEADER="X-SSL-Client-Cert",
        MANDAT_ACCESS_LOG=str(root / "access.log"))
    assert "${MANDAT_" not in site, "unfilled template variable"
    assert site.count("proxy_pass http://mandat;") == 1
    pins = "".join(f"upstream idp_{n} {{ server 127.0.0.1:{p}; }}\n" for n, p in enumerate(upstreams, 1))
    pin_map = "map $http_x_mandat_pin $mandat_target {\n    default mandat;\n" + "".join(
        f"    {n} idp_{n};\n" for n in range(1, len(upstreams) + 1)) + "}\n"
    site = site.replace("proxy_pass http://mandat;", "proxy_pass http://$mandat_target;\n"
                        "        add_header X-Mandat-Upstream $upstream_addr always;")
    (root / "mandat.conf").write_text(pins + pin_map + site)
    return (f"worker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/error.log warn;\n"
            "events { worker_connections 512; }\n"
            f"http {{\n  client_body_temp_path {root}/tmp/body;\n  proxy_temp_path {root}/tmp/proxy;\n"
            f"  fastcgi_temp_path {root}/tmp/fastcgi;\n  uwsgi_temp_path {root}/tmp/uwsgi;\n"
            f"  scgi_temp_path {root}/tmp/scgi;\n  include {root}/mandat.conf;\n}}\n")


@dataclass
class Topology:
    root: Path
    pg: PrivatePostgres
    redis: PrivateRedis
    idps: list[IdpProcess]
    nginx_port: int
    nginx: subprocess.Popen[bytes] | None
    ca: Path
    env: dict[str, str]
    client_secret: str = ""
    m2m_secret: str = ""
    # Every secret value the tests used or received: the log scan looks for each.
    secrets: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        # The issuer says localhost; clients dial the address (no name lookups under load).
        return f"https://127.0.0.1:{self.nginx_port}"

    def client(self, timeout: float = 20) -> httpx.AsyncClient:
        """A browser-like client of the public URL (through nginx, TLS)."""
        return httpx.AsyncClient(base_url=self.url, verify=ssl.create_default_context(cafile=str(self.ca)),
                                 timeout=timeout, follow_redirects=False)

    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "idp", *args], env=self.env, cwd=self.root, input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def upstream(self, n: int) -> str:
        return f"127.0.0.1:{self.idps[n - 1].port}"

    def logs(self) -> str:
        parts = [p.read_text(errors="replace") for p in self.root.glob("*.log")]
        parts += [p.read_text(errors="replace") for p in (self.root / "nginx").glob("*.log")]
        return "\n".join(parts)

    def restart(self, n: int) -> None:
        idp = self.idps[n - 1]
        idp.stop()
        idp.start()


async def _seed(settings: Settings) -> tuple[str, str]:
    container = build_container(settings)
    try:
        for user in USERS:
            await container.accounts.create(username=user, password=PASSWORD, given_name=user.title(),
                                            family_name="Martin", email=f"{user}@example.org")
        rp = await container.clients.register(
            client_id="rp", redirect_uris=[REDIRECT], scopes=["openid", "profile", "email", "offline_access"],
            auth_method="client_secret_basic", grant_types=["authorization_code", "refresh_token"])
        m2m = await container.clients.register(
            client_id="m2m", redirect_uris=[], scopes=["openid"], auth_method="client_secret_basic",
            grant_types=["client_credentials"])
        await container.audit.flush()
        assert rp.secret and m2m.secret
        return rp.secret, m2m.secret
    finally:
        await container.close()


def create_database(pg: PrivatePostgres, name: str = "mandat") -> None:
    """The IdP's database on the private PostgreSQL (the topology test and bench/soak)."""
    async def create() -> None:
        conn = await asyncpg.connect(pg.admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())


def idp_env(root: Path, pg: PrivatePostgres, redis: PrivateRedis, nginx_port: int) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MANDAT_", "PROMETHEUS_"))}
    return {**keep, "PYTHONPATH": str(REPO), "MANDAT_ISSUER": f"https://localhost:{nginx_port}",
            "MANDAT_DATABASE_URL": pg.url, "MANDAT_REDIS_URL": redis.url, "MANDAT_KEYS_DIR": str(root / "keys"),
            "MANDAT_ARGON2_TIME_COST": "2", "MANDAT_ARGON2_MEMORY_KIB": "16384", "MANDAT_ARGON2_PARALLELISM": "1",
            "MANDAT_KEYS_RELOAD_SECONDS": "1", "MANDAT_TRUSTED_PROXIES": "127.0.0.1", "MANDAT_LOG_LEVEL": "debug",
            "MANDAT_LOG_FORMAT": "json", "MANDAT_DB_CONNECT_TIMEOUT": "2", "MANDAT_STORE_TIMEOUT": "1",
            "MANDAT_SHUTDOWN_GRACE_SECONDS": "15", "MANDAT_RETRY_AFTER_SECONDS": "3", "MANDAT_DB_POOL_SIZE": "5",
            "MANDAT_DB_MAX_OVERFLOW": "5"}


def start_nginx(root: Path, port: int, upstreams: list[int], tls: tuple[Path, Path]) -> subprocess.Popen[bytes]:
    from tests.e2e.production.components import Nginx

    binary = Nginx.binary_path()
    for folder in ("tmp",):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "nginx.conf").write_text(render_nginx(root, port, upstreams, tls))
    process = subprocess.Popen([binary, "-p", str(root), "-c", str(root / "nginx.conf"), "-g", "daemon off;"],
                               stderr=subprocess.PIPE)
    wait_until(lambda: port_open("127.0.0.1", port), 10, "nginx", process, root / "error.log")
    return process


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    root = tmp_path_factory.mktemp("topology")
    pg = PrivatePostgres()
    redis = PrivateRedis(root / "redis")
    nginx_port = free_port()
    idps: list[IdpProcess] = []
    nginx: subprocess.Popen[bytes] | None = None
    try:
        pg.start()
        redis.start()

        create_database(pg)
        env = idp_env(root, pg, redis, nginx_port)
        topo = Topology(root, pg, redis, idps, nginx_port, None, root / "nginx" / "tls.pem", env)
        migrated = topo.cli("migrate")
        assert migrated.returncode == 0, migrated.stderr
        topo.client_secret, topo.m2m_secret = asyncio.run(_seed(topo.settings()))
        topo.secrets |= {PASSWORD, topo.client_secret, topo.m2m_secret}
        idps.extend([IdpProcess("idp1", env, root), IdpProcess("idp2", env, root)])
        for idp in idps:
            idp.start()
        (root / "nginx").mkdir()
        tls = self_signed(root / "nginx")
        nginx = start_nginx(root / "nginx", nginx_port, [i.port for i in idps], tls)
        topo.nginx = nginx
        yield topo
    finally:
        for idp in idps:
            idp.stop()
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
        redis.stop()
        pg.destroy()


JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.")


def assert_no_secrets_in_logs(topology: Topology) -> None:
    """Every secret the tests used or received (passwords, client secrets, codes, PKCE verifiers, tokens, mailed
    activation codes), and anything shaped like a JWT, is absent from every log of the run: both IdP processes'
    JSON logs (at debug level), nginx's access and error logs."""
    logs = topology.logs()
    assert len(logs) > 10_000, "the run logged almost nothing: the scan would prove nothing"
    secrets = {s for s in topology.secrets if len(s) >= 8}
    assert len(secrets) >= 5
    leaked = sorted(s[:12] + "…" for s in secrets if s in logs)
    assert not leaked, f"secrets found in the logs: {leaked}"
    assert not JWT.search(logs), JWT.search(logs)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()) or not want:
                total += float(value)
    return total


def as_form(**values: Any) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}
