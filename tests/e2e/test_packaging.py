"""The wheel is what gets deployed: build it from this checkout, install it into a fresh virtualenv and use it
from a folder outside the checkout, as an operator would.

`python -m idp migrate`, `client add --audience professional`, `cards make-test-pki` (card sign-in on), `serve`;
then, as a browser: /authorize with PKCE S256 → the sign-in page in French and in English with the card method
first, the static files it links, discovery. A template, catalogue, static file, data file or migration that
the wheel leaves out fails here (and `test_wheel_ships_every_file` names it), not on a user.

Slow (builds a wheel and installs its dependencies, from pip's cache after the first run), hence e2e.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from secrets import token_urlsafe
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import free_port, unavailable

REPO = Path(__file__).resolve().parents[2]
# What the build reads: the package, the migrations it ships (alembic/ → idp/_alembic/) and the metadata.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "idp", "alembic")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")
REDIRECT = "https://rp.example/cb"


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, (f"{' '.join(map(str, args))} exited with {result.returncode}\n"
                                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def clean_env(**extra: str) -> dict[str, str]:
    """The operator's environment: none of this process's MANDAT_* settings, PYTHONPATH or virtualenv."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MANDAT_", "PYTHON", "VIRTUAL_ENV", "PYTEST"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what the build reads: building in the checkout would leave build/ behind, and a stale
    build/lib could hide a file the configuration no longer ships."""
    src = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=IGNORED)
        else:
            shutil.copy2(REPO / name, src / name)
    return src


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), "."],
                            cwd=source, env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0 and re.search(r"No matching distribution|Could not find a version|NewConnectionError",
                                            result.stdout + result.stderr):
        unavailable("cannot download the build backend (setuptools) from the package index")
    assert result.returncode == 0, f"pip wheel failed\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    (built,) = dist.glob("mandat-*.whl")
    return built


@dataclass
class Installed:
    python: Path
    workdir: Path  # outside the checkout: where the operator runs commands


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh virtualenv (no system site-packages) holding the wheel and its dependencies from the index."""
    venv = tmp_path_factory.mktemp("venv")
    workdir = tmp_path_factory.mktemp("operator")
    assert not workdir.resolve().is_relative_to(REPO)
    run(sys.executable, "-m", "venv", venv, cwd=workdir, env=clean_env())
    python = venv / "bin" / "python"
    result = subprocess.run([str(python), "-m", "pip", "install", str(wheel)], cwd=workdir, env=clean_env(),
                            capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0 and re.search(r"NewConnectionError|Could not find a version", result.stderr):
        unavailable("cannot download Mandat's dependencies from the package index")
    assert result.returncode == 0, f"pip install failed\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    # The installed copy is the one imported, and the checkout is nowhere on the path.
    where = run(python, "-c", "import idp, sys; print(idp.__file__); print(*sys.path, sep='\\n')", cwd=workdir,
                env=clean_env()).stdout.splitlines()
    assert Path(where[0]).resolve().is_relative_to(venv.resolve()), where[0]
    assert not any(p and Path(p).resolve().is_relative_to(REPO) for p in where[1:]), where
    return Installed(python, workdir)


def expected_files(source: Path) -> set[str]:
    """Every file of the package, and the migrations under the name the wheel gives them."""
    files = {p.relative_to(source).as_posix() for p in (source / "idp").rglob("*") if p.is_file()}
    files |= {"idp/_alembic/" + p.relative_to(source / "alembic").as_posix()
              for p in (source / "alembic").rglob("*") if p.is_file()}
    return files


def test_wheel_ships_every_file(source: Path, wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if not name.startswith("mandat-")}
    missing = sorted(expected_files(source) - shipped)
    assert not missing, f"files missing from the wheel (add a pattern to pyproject.toml package-data): {missing}"
    # Some files every domain relies on, by name, in case the source copy itself went wrong.
    for name in ("idp/http/templates/login.html", "idp/http/locales/fr/LC_MESSAGES/messages.po",
                 "idp/http/static/mandat.css", "idp/cards/templates/cards/login_method.html",
                 "idp/cards/nginx.conf.template", "idp/enrollment/data/common-passwords.txt",
                 "idp/_alembic/env.py", "idp/_alembic/script.py.mako", "idp/_alembic/versions/0001_core.py"):
        assert name in shipped


@contextmanager
def serving(installed: Installed, env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    """`python -m idp serve` until /healthz answers; stopped on the way out, whatever happened."""
    with log.open("w") as output:
        process = subprocess.Popen([str(installed.python), "-m", "idp", "serve", "--port", str(port)],
                                   cwd=installed.workdir, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"serve exited with {process.returncode}:\n{log.read_text()[-4000:]}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"serve did not answer /healthz:\n{log.read_text()[-4000:]}"
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def test_installed_wheel_serves_the_sign_in_page(installed: Installed) -> None:
    work = installed.workdir
    port = free_port()
    issuer = f"http://localhost:{port}"
    (work / "var").mkdir()
    env = clean_env(MANDAT_ISSUER=issuer, MANDAT_DATABASE_URL=f"sqlite+aiosqlite:///{work / 'var' / 'mandat.db'}",
                    MANDAT_KEYS_DIR=str(work / "keys"))
    cli = (installed.python, "-m", "idp")

    assert "Schema up to date" in run(*cli, "migrate", cwd=work, env=env).stderr
    # Card sign-in on: the test PKI's trust anchors, intermediates and CRLs (printed as `export NAME=VALUE`).
    made = run(*cli, "cards", "make-test-pki", "--out", work / "test-pki", cwd=work, env=env).stdout
    cards_env = dict(re.findall(r"^export (MANDAT_CARDS_\w+)=(.*)$", made, re.MULTILINE))
    assert "MANDAT_CARDS_TRUST_ANCHORS" in cards_env, made
    env.update(cards_env)
    run(*cli, "client", "add", "--client-id", "cabinet", "--public", "--redirect-uri", REDIRECT,
        "--scope", "openid profile", "--name", "Cabinet Santé", "--audience", "professional", cwd=work, env=env)

    with serving(installed, env, port, work / "serve.log"), \
            httpx.Client(base_url=issuer, timeout=10, headers={"accept-language": "fr-FR,fr;q=0.9"}) as browser:
        discovery = browser.get("/.well-known/openid-configuration")
        assert discovery.status_code == 200
        assert discovery.json()["issuer"] == issuer
        assert discovery.json()["authorization_endpoint"] == f"{issuer}/authorize"

        verifier = token_urlsafe(48)
        challenge = urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        response = browser.get("/authorize", params={
            "response_type": "code", "client_id": "cabinet", "redirect_uri": REDIRECT, "scope": "openid profile",
            "state": token_urlsafe(8), "nonce": token_urlsafe(8), "code_challenge": challenge,
            "code_challenge_method": "S256"})
        assert response.status_code in {302, 303}, response.text
        page_path = urlsplit(response.headers["location"]).path
        assert re.fullmatch(r"/interaction/[\w-]+", page_path), response.headers["location"]

        french = browser.get(page_path)  # with the interaction cookie set by /authorize
        assert french.status_code == 200, french.text
        assert '<html lang="fr">' in french.text
        assert "Se connecter" in french.text
        assert "Cabinet Santé" in french.text
        # The card template, translated, and first of the sign-in methods for a professional client.
        assert "Avec votre carte CPS" in french.text
        card_at = french.text.index("data-cards")
        others = {marker: french.text.find(marker) for marker in ("data-passkeys=", 'autocomplete="current-password"')}
        assert all(card_at < at for at in others.values() if at >= 0), (card_at, others)

        english = browser.get(page_path, params={"lang": "en"})
        assert english.status_code == 200, english.text
        assert '<html lang="en">' in english.text
        assert "Sign in" in english.text and "Se connecter" not in english.text
        assert "With your CPS card" in english.text

        # Every stylesheet and script the page links is served.
        linked = set(re.findall(r'(?:href|src)="(/static/[^"]+)"', french.text))
        assert {"/static/mandat.css", "/static/cards.js"} <= linked, linked
        for path in sorted(linked):
            static = browser.get(path)
            assert static.status_code == 200, path
            assert static.content, path
        assert browser.get("/static/mandat.css").headers["content-type"].startswith("text/css")
