"""`python -m idp` as an operator runs it: a subprocess with MANDAT_* settings pointing at a temp folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Cli:
    def __init__(self, tmp: Path) -> None:
        self.env = {
            "PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "COLUMNS": "250", "NO_COLOR": "1",
            "MANDAT_ISSUER": "http://localhost:8000", "MANDAT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/mandat.db",
            "MANDAT_KEYS_DIR": str(tmp / "keys"), "MANDAT_ARGON2_TIME_COST": "1", "MANDAT_ARGON2_MEMORY_KIB": "1024",
            "MANDAT_ARGON2_PARALLELISM": "1",
        }

    def __call__(self, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "idp", *args], input=stdin, capture_output=True, text=True,
                              cwd=ROOT, env={**self.env, **env}, timeout=60, check=False)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    runner = Cli(tmp_path_factory.mktemp("cli"))
    migrated = runner("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "Schema up to date" in migrated.stderr
    return runner


def test_account_add_reads_the_password_from_stdin(cli: Cli) -> None:
    result = cli("account", "add", "--username", "bob", "--password-stdin", "--email", "bob@example.org",
                 stdin="s3cret-passphrase\n")
    assert result.returncode == 0, result.stderr
    assert "Account created" in result.stderr and "bob" in result.stderr
    assert "s3cret-passphrase" not in result.stdout + result.stderr
    again = cli("account", "add", "--username", "bob", "--password-stdin", stdin="x\n")
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_account_add_without_password_on_stdin(cli: Cli) -> None:
    result = cli("account", "add", "--username", "carol", "--password-stdin", stdin="")
    assert result.returncode == 1
    assert "no password on stdin" in result.stderr


def test_client_secret_is_printed_once(cli: Cli) -> None:
    added = cli("client", "add", "--client-id", "portal", "--redirect-uri", "https://portal.example/cb",
                "--scope", "openid profile email")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    assert len(secret) >= 43 and "\n" not in secret  # only the secret goes to stdout
    assert secret not in added.stderr
    listed = cli("client", "list")
    assert listed.returncode == 0, listed.stderr
    assert "portal" in listed.stdout and "https://portal.example/cb" in listed.stdout
    assert secret not in listed.stdout + listed.stderr
    keys_dir = Path(cli.env["MANDAT_KEYS_DIR"])
    database = Path(cli.env["MANDAT_DATABASE_URL"].split("///", 1)[1])
    assert secret.encode() not in database.read_bytes()  # only its keyed hash is kept
    assert keys_dir.exists()


def test_public_client_has_no_secret(cli: Cli) -> None:
    added = cli("client", "add", "--client-id", "spa", "--redirect-uri", "http://localhost:3000/cb", "--public")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == ""


def test_invalid_client_is_refused(cli: Cli) -> None:
    added = cli("client", "add", "--client-id", "bad", "--redirect-uri", "http://evil.example/cb")
    assert added.returncode == 1
    assert "must use https" in added.stderr


def test_keys_rotate_and_list(cli: Cli) -> None:
    listed = cli("keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("ES256") == 1 and "active" in listed.stdout
    rotated = cli("keys", "rotate", "--delay", "3600")
    assert rotated.returncode == 0, rotated.stderr
    assert "published" in rotated.stderr
    listed = cli("keys", "list")
    assert listed.stdout.count("ES256") == 2
    assert "active" in listed.stdout and "pending" in listed.stdout
    signing = Path(cli.env["MANDAT_KEYS_DIR"]) / "signing"
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in signing.glob("*.json"))


def test_bad_setting_exits_2_naming_the_variable(cli: Cli) -> None:
    # (Every variable's validation is covered in test_settings.py; this is the CLI's exit path.)
    result = cli("client", "list", MANDAT_CODE_TTL="120")
    assert result.returncode == 2
    assert "MANDAT_CODE_TTL must be between 1 and 60 seconds" in result.stderr
