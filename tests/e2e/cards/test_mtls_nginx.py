"""Path B through a real nginx: TLS client certificate from the test PKI → nginx → header → live IdP.

nginx (idp/cards/nginx.conf.template) listens on 127.0.0.1 with a server certificate from the test PKI and
connects to the IdP from 127.0.0.2, the only trusted proxy. The same header sent straight to the IdP (from
127.0.0.1) is ignored and audited.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import idp.cards
from idp.cards.testpki import DEMO_PROFESSIONALS, GeneratedPki, load_ca, new_rsa_key
from tests.conftest import free_port, port_open, unavailable
from tests.unit.cards.card_flow import code_after_sign_in, jwt_claims, tokens_and_userinfo

from .conftest import CardIdP, audit_tags, card_idp

pytestmark = pytest.mark.nginx

TEMPLATE = Path(idp.cards.__file__).parent / "nginx.conf.template"
PROXY_ADDRESS = "127.0.0.2"
HEADER = "X-SSL-Client-Cert"
VALID = DEMO_PROFESSIONALS[0]
REVOKED_ID = next(p.national_id for p in DEMO_PROFESSIONALS if p.revoked)


def server_certificate(pki: GeneratedPki, out: Path) -> tuple[Path, Path]:
    """A TLS server certificate for localhost / 127.0.0.1, issued by the test root."""
    root = load_ca(pki.trust_anchors, pki.out_dir / "private" / "root.key.pem")
    key = new_rsa_key()
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(root.certificate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(root.key, hashes.SHA256()))
    cert_path, key_path = out / "server.pem", out / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture()
def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        unavailable("nginx is not installed (apt-get install nginx)")
    assert binary is not None
    return binary


def start_nginx(binary: str, prefix: Path, *, port: int, upstream: str, server: tuple[Path, Path]) -> Iterator[int]:
    for folder in ("tmp", "logs"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    config = TEMPLATE.read_text()
    for name, value in {"PREFIX": str(prefix), "LISTEN": f"127.0.0.1:{port}", "SERVER_CERT": str(server[0]),
                        "SERVER_KEY": str(server[1]), "UPSTREAM": upstream, "BIND": PROXY_ADDRESS,
                        "CERT_HEADER": HEADER}.items():
        config = config.replace(f"@{name}@", value)
    assert re.search(r"@[A-Z_]+@", config.split("\nworker_processes", 1)[1]) is None, "unfilled placeholder"
    (prefix / "nginx.conf").write_text(config)
    process = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 5
    while not port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            stderr = process.stderr.read().decode() if process.stderr else ""
            unavailable(f"nginx did not start: {stderr.strip()}")
        time.sleep(0.02)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=5)


@pytest.fixture()
async def mtls(live_idp_factory: Any, pki: GeneratedPki, nginx_binary: str,
               tmp_path: Path) -> AsyncIterator[tuple[CardIdP, str]]:
    async with card_idp(live_idp_factory, pki, MANDAT_CARDS_TLS_LOGIN="true",
                        MANDAT_TRUSTED_PROXIES=PROXY_ADDRESS) as live:
        server = server_certificate(pki, tmp_path)
        nginx = start_nginx(nginx_binary, tmp_path / "nginx", port=free_port(),
                            upstream=f"http://127.0.0.1:{live.idp.port}", server=server)
        port = next(nginx)
        try:
            yield live, f"https://localhost:{port}"
        finally:
            next(nginx, None)


def tls_context(pki: GeneratedPki, national_id: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.trust_anchors))
    if national_id is not None:
        card_dir = pki.card_dirs[national_id]
        context.load_cert_chain(card_dir / "cert.pem", card_dir / "key.pem")
    return context


async def open_tls_form(http: httpx.AsyncClient) -> tuple[str, str, str]:
    from tests.unit.cards.card_flow import open_login_page

    page = await open_login_page(http)
    assert f'action="/interaction/{page.uid}/card/tls"' in page.html
    csrf_token = page.html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return page.uid, csrf_token, page.verifier


async def test_card_certificate_through_nginx_signs_in(mtls: tuple[CardIdP, str], pki: GeneratedPki) -> None:
    live, public_url = mtls
    async with httpx.AsyncClient(base_url=public_url, verify=tls_context(pki, VALID.national_id),
                                 timeout=10) as http:
        uid, csrf_token, verifier = await open_tls_form(http)
        response = await http.post(f"/interaction/{uid}/card/tls", data={"csrf_token": csrf_token})
        assert (response.status_code, response.headers["location"]) == (303, f"/interaction/{uid}")
        # The rest of the flow as JSON-less browsers do it: consent, code, token, userinfo, all through nginx.
        fake_verified = httpx.Response(200, json={"redirect": response.headers["location"]})
        code = await code_after_sign_in(http, fake_verified)
        tokens, userinfo = await tokens_and_userinfo(http, code, verifier, live.client)
    assert jwt_claims(tokens["id_token"])["acr"] == "eidas3"
    assert userinfo["SubjectNameID"] == VALID.national_id and userinfo["authMode"] == "CARD"
    events = await audit_tags(live.idp, "cards:")
    assert [(tag, detail.get("path")) for tag, detail in events] == [("cards:login:succeeded", "tls")]


async def test_revoked_certificate_through_nginx_is_refused(mtls: tuple[CardIdP, str], pki: GeneratedPki) -> None:
    live, public_url = mtls
    async with httpx.AsyncClient(base_url=public_url, verify=tls_context(pki, REVOKED_ID), timeout=10) as http:
        uid, csrf_token, _ = await open_tls_form(http)
        response = await http.post(f"/interaction/{uid}/card/tls", data={"csrf_token": csrf_token})
    assert response.status_code == 400 and "a été révoqué" in response.text
    events = await audit_tags(live.idp, "cards:")
    assert [(tag, detail["error"]) for tag, detail in events] == [("cards:login:failed", "certificate_revoked")]


async def test_header_smuggled_through_nginx_without_a_certificate_is_dropped(mtls: tuple[CardIdP, str],
                                                                             pki: GeneratedPki) -> None:
    live, public_url = mtls
    forged = quote((pki.card_dirs[VALID.national_id] / "cert.pem").read_text(), safe="")
    async with httpx.AsyncClient(base_url=public_url, verify=tls_context(pki, None), timeout=10) as http:
        uid, csrf_token, _ = await open_tls_form(http)
        response = await http.post(f"/interaction/{uid}/card/tls", data={"csrf_token": csrf_token},
                                   headers={HEADER: forged})
    assert response.status_code == 400 and "pas présenté de certificat de carte" in response.text
    assert await live.idp.container.accounts.by_username(VALID.national_id) is None


async def test_spoofed_header_sent_directly_to_the_idp_is_refused_and_audited(mtls: tuple[CardIdP, str],
                                                                            pki: GeneratedPki) -> None:
    live, _public_url = mtls
    forged = quote((pki.card_dirs[VALID.national_id] / "cert.pem").read_text(), safe="")
    uid, csrf_token, _ = await open_tls_form(live.http)
    response = await live.http.post(f"/interaction/{uid}/card/tls", data={"csrf_token": csrf_token},
                                    headers={HEADER: forged})
    assert response.status_code == 400 and "pas présenté de certificat de carte" in response.text
    assert await live.idp.container.accounts.by_username(VALID.national_id) is None
    events = await audit_tags(live.idp, "cards:")
    assert [(tag, detail.get("header") or detail.get("error")) for tag, detail in events] == [
        ("cards:mtls:spoofed_header", HEADER), ("cards:login:failed", "no_client_certificate")]
