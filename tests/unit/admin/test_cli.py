"""One code path: the `python -m idp` client and account commands go through idp.admin.operations, like the API,
and are audited as `admin:cli:<user>`. An admin client made on the command line calls the API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from idp.audit import AuditEvent
from idp.db import Database
from tests.unit.test_cli import Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    runner = Cli(tmp_path)
    assert runner("migrate").returncode == 0
    return runner


def audit_tags(cli: Cli) -> list[tuple[str, str | None, str | None]]:
    async def read() -> list[tuple[str, str | None, str | None]]:
        db = Database(cli.env["MANDAT_DATABASE_URL"])
        try:
            async with db.session() as session:
                rows = await session.scalars(select(AuditEvent).where(AuditEvent.tag.startswith("admin:"))
                                             .order_by(AuditEvent.id))
                return [(row.tag, row.actor, row.detail.get("reason")) for row in rows]
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_the_issues_admin_client_command_works(cli: Cli) -> None:
    added = cli("client", "add", "--client-id", "ops", "--grant-type", "client_credentials",
                "--scope", "admin:delegations admin:accounts")
    assert added.returncode == 0, added.stderr
    assert len(added.stdout.strip()) >= 43
    structure = cli("client", "add", "--client-id", "cabinet", "--grant-type", "client_credentials",
                    "--scope", "admin:delegations", "--admin-structure", "S-CABINET-1")
    assert structure.returncode == 0, structure.stderr
    bad = cli("client", "add", "--client-id", "x", "--grant-type", "client_credentials", "--scope", 'admin:"x"')
    assert bad.returncode == 1 and "not a valid scope name" in bad.stderr


def test_client_and_account_commands_share_the_api_code_path(cli: Cli) -> None:
    assert cli("client", "add", "--client-id", "svc", "--grant-type", "client_credentials",
               "--scope", "admin:audit").returncode == 0
    rotated = cli("client", "rotate-secret", "--client-id", "svc", "--reason", "leaked")
    assert rotated.returncode == 0 and len(rotated.stdout.strip()) >= 43, rotated.stderr
    assert cli("client", "disable", "--client-id", "svc").returncode == 0
    again = cli("client", "disable", "--client-id", "svc")
    assert again.returncode == 1 and "already disabled" in again.stderr
    missing = cli("client", "rotate-secret", "--client-id", "nobody")
    assert missing.returncode == 1 and "No client has this id" in missing.stderr
    assert cli("account", "add", "--username", "bob").returncode == 0
    locked = cli("account", "lock", "--username", "bob", "--reason", "stolen phone")
    assert locked.returncode == 0 and "Account locked" in locked.stderr, locked.stderr
    twice = cli("account", "lock", "--username", "bob", "--reason", "again")
    assert twice.returncode == 1 and "locked" in twice.stderr
    assert cli("account", "unlock", "--username", "bob", "--reason", "found it").returncode == 0
    nobody = cli("account", "lock", "--username", "nobody", "--reason", "x")
    assert nobody.returncode == 1 and "no account named 'nobody'" in nobody.stderr
    tags = audit_tags(cli)
    assert [tag for tag, _actor, _reason in tags] == [
        "admin:client:created", "admin:client:secret_rotated", "admin:client:disabled", "admin:account:locked",
        "admin:account:unlocked"]
    assert all(actor is not None and actor.startswith("admin:cli:") for _tag, actor, _reason in tags)
    assert [reason for _tag, _actor, reason in tags] == [None, "leaked", None, "stolen phone", "found it"]
