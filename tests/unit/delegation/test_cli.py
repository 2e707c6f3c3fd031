"""`python -m idp delegation …` and `python -m idp audit verify`, as an operator runs them (subprocesses)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.unit.test_cli import Cli

PASSWORD = "s3cret-passphrase\n"


def _database(cli: Cli) -> Path:
    return Path(cli.env["MANDAT_DATABASE_URL"].split("///", 1)[1])


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    runner = Cli(tmp_path)
    assert runner("migrate").returncode == 0
    for name in ("alice", "bob", "carol"):
        added = runner("account", "add", "--username", name, "--password-stdin", stdin=PASSWORD)
        assert added.returncode == 0, added.stderr
    return runner


def add(cli: Cli, principal: str, delegate: str, *scopes: str) -> dict[str, object]:
    args = ["delegation", "add", "--kind", "proxy", "--principal", principal, "--delegate", delegate,
            "--reason", "test"]
    for scope in scopes:
        args += ["--scope", scope]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    created: dict[str, object] = json.loads(result.stdout)
    return created


def test_add_list_revoke_lapse_sync(cli: Cli) -> None:
    created = add(cli, "alice", "bob", "profile", "dmp.read")
    assert created["status"] == "active" and created["kind"] == "proxy" and created["scopes"] == ["dmp.read", "profile"]
    add(cli, "carol", "bob", "profile")
    listed = cli("delegation", "list", "--principal", "alice")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [row["id"] for row in rows] == [created["id"]]
    assert len(cli("delegation", "list", "--delegate", "bob", "--status", "active").stdout.splitlines()) == 2
    revoked = cli("delegation", "revoke", str(created["id"]), "--reason", "asked by phone")
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["status"] == "revoked"
    again = cli("delegation", "revoke", str(created["id"]), "--reason", "twice")
    assert again.returncode == 1 and "delegation_not_active" in again.stderr
    lapse = cli("delegation", "lapse")
    assert lapse.returncode == 0 and json.loads(lapse.stdout) == {"lapsed": 0}
    synced = cli("delegation", "sync-guardians")
    assert synced.returncode == 0 and json.loads(synced.stdout)["created"] == 0
    verified = cli("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stderr


@pytest.mark.parametrize(("args", "rule"), [
    (["--principal", "alice", "--delegate", "alice", "--scope", "profile"], "self_delegation"),
    (["--principal", "alice", "--delegate", "bob", "--scope", "prescription.sign"], "scope_not_delegable"),
    (["--principal", "alice", "--delegate", "nobody", "--scope", "profile"], "unknown_account"),
    (["--principal", "alice", "--delegate", "bob", "--scope", "profile", "--until", "2999-01-01"],
     "duration_too_long"),
])
def test_add_refusals_exit_non_zero_naming_the_rule(cli: Cli, args: list[str], rule: str) -> None:
    result = cli("delegation", "add", "--kind", "proxy", "--reason", "test", *args)
    assert result.returncode == 1
    assert f"rule: {rule}" in result.stderr and "Refused:" in result.stderr
    assert result.stdout == ""


def _tampered(cli: Cli, *statements: str) -> str:
    for principal, delegate in (("alice", "bob"), ("bob", "carol"), ("carol", "alice")):
        add(cli, principal, delegate, "profile")
    assert cli("audit", "verify").returncode == 0
    with sqlite3.connect(_database(cli)) as conn:
        for statement in statements:
            conn.execute(statement)
    result = cli("audit", "verify")
    assert result.returncode == 1
    return result.stderr


def test_audit_verify_names_an_altered_event(cli: Cli) -> None:
    stderr = _tampered(cli, "UPDATE audit_events SET actor = 'someone-else' WHERE id = 2")
    assert "event 2" in stderr and "altered" in stderr


def test_audit_verify_names_the_event_after_a_removed_one(cli: Cli) -> None:
    stderr = _tampered(cli, "DELETE FROM audit_events WHERE id = 2")
    assert "event 3" in stderr and "removed" in stderr


def test_audit_verify_catches_a_removed_last_event(cli: Cli) -> None:
    stderr = _tampered(cli, "DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)")
    assert "tail_removed" in stderr


def test_audit_verify_names_swapped_events(cli: Cli) -> None:
    stderr = _tampered(cli, "UPDATE audit_events SET id = -1 WHERE id = 1",
                       "UPDATE audit_events SET id = 1 WHERE id = 2",
                       "UPDATE audit_events SET id = 2 WHERE id = -1")
    assert "event 1" in stderr and "reordered" in stderr
