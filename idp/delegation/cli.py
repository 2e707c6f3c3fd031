"""Delegation commands, mounted by idp/cli.py as `python -m idp delegation …`, plus `python -m idp audit verify` and
the hook that revokes guardian delegations whose registry link disappeared after `registry import`.

Commands act as an administrator (`admin:cli`): what they create is active at once, and the policy still applies.
A refusal exits 1 with the readable sentence and the rule on stderr.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from idp.audit import AuditLog, verify
from idp.container import build_store
from idp.db import Database
from idp.delegation import policy
from idp.delegation.config import DelegationSettings
from idp.delegation.errors import DelegationError
from idp.delegation.interfaces import Actor, DelegationFilter, DelegationRequest
from idp.delegation.service import DelegationService
from idp.errors import ConfigurationError
from idp.settings import Settings

__all__ = ["after_registry_import", "app", "audit_app"]

app = typer.Typer(help="Delegations: who may act for whom, how, and until when.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
_console = Console(stderr=True, highlight=False)

T = TypeVar("T")


def _settings() -> tuple[Settings, DelegationSettings]:
    try:
        settings = Settings.from_env()
        return settings, settings.domain(DelegationSettings.from_env)
    except ConfigurationError as exc:
        _console.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def _run(work: Callable[[DelegationService], Awaitable[T]]) -> T:
    """Build the service on the configured database, run `work`, write the audit events, refuse readably."""
    settings, delegation_settings = _settings()

    async def run() -> T:
        db = Database(settings.database_url)
        audit = AuditLog(db)
        # The servers' store (Redis in production): a change made here renews the stamp their kept delegation
        # rows depend on, so a revocation from the command line ends tokens at once in every process.
        store = build_store(settings)
        try:
            return await work(DelegationService(db, store, audit, delegation_settings))
        finally:
            await audit.flush()
            await store.close()
            await db.dispose()

    try:
        return asyncio.run(run())
    except DelegationError as refusal:
        _console.print(f"[red]Refused:[/red] {refusal.public} (rule: {refusal.rule})")
        if refusal.detail:
            _console.print(f"  {refusal.detail}")
        raise typer.Exit(1) from None


def _admin() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor.administrator(f"admin:cli:{user}")


def _print(value: dict[str, Any]) -> None:
    print(json.dumps(value, ensure_ascii=False, sort_keys=True), flush=True)


@app.command("add")
def add(kind: Annotated[str, typer.Option(help="assistant | guardian | proxy")],
        principal: Annotated[str, typer.Option(help="Username of the person acted for.")],
        delegate: Annotated[str, typer.Option(help="Username of the person who acts.")],
        scope: Annotated[list[str], typer.Option(help="A delegated scope (repeatable).")],
        reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
        context: Annotated[str | None, typer.Option(help="Assistant: the structure id.")] = None,
        until: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD, inclusive); default: longest "
                                                       "allowed.")] = None) -> None:
    """Create a delegation as an administrator (active at once) and print it as JSON."""
    last_day: date | None = None
    if until is not None:
        try:
            last_day = date.fromisoformat(until)
        except ValueError:
            _console.print(f"[red]Error:[/red] --until must be YYYY-MM-DD, got {until!r}")
            raise typer.Exit(2) from None

    async def work(service: DelegationService) -> dict[str, Any]:
        # --until names the last day: the delegation holds through it, to local midnight after it.
        end = None if last_day is None else policy.start_of(last_day + timedelta(days=1), service.settings.zone())
        request = DelegationRequest(
            kind=kind, principal_id=await service.account_id(principal), delegate_id=await service.account_id(delegate),
            scopes=tuple(scope), context=context, valid_until=end, reason=reason)
        return (await service.create(request, _admin())).as_json()

    _print(_run(work))


@app.command("list")
def list_command(principal: Annotated[str | None, typer.Option(help="Username of the person acted for.")] = None,
                 delegate: Annotated[str | None, typer.Option(help="Username of the person who acts.")] = None,
                 status: Annotated[str | None, typer.Option(help="pending | active | declined | revoked | "
                                                                 "expired")] = None,
                 limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 1000) -> None:
    """Print delegations, one JSON object per line."""

    async def work(service: DelegationService) -> list[dict[str, Any]]:
        where = DelegationFilter(
            principal_id=await service.account_id(principal) if principal else None,
            delegate_id=await service.account_id(delegate) if delegate else None, status=status, limit=limit)
        return [view.as_json() for view in await service.find(where)]

    for row in _run(work):
        _print(row)


@app.command("revoke")
def revoke(delegation_id: Annotated[str, typer.Argument(help="The delegation id.")],
           reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")]) -> None:
    """Revoke a delegation as an administrator; prints it as JSON."""

    async def work(service: DelegationService) -> dict[str, Any]:
        return (await service.revoke(delegation_id, _admin(), reason)).as_json()

    _print(_run(work))


@app.command("lapse")
def lapse() -> None:
    """The scheduled job: mark expired every delegation past its end or past a guardian age rule."""

    async def work(service: DelegationService) -> int:
        return await service.lapse_expired()

    count = _run(work)
    _console.print(f"{count} delegation(s) lapsed")
    _print({"lapsed": count})


@app.command("sync-guardians")
def sync_guardians() -> None:
    """Create guardian delegations from the registry's parental links; revoke those whose link disappeared."""

    async def work(service: DelegationService) -> dict[str, Any]:
        summary = await service.sync_guardians()
        return {"created": summary.created, "managed_accounts": summary.managed_accounts,
                "revoked": summary.revoked, "skipped": summary.skipped}

    result = _run(work)
    _console.print(f"guardians: {result['created']} created · {result['managed_accounts']} managed account(s) · "
                   f"{result['revoked']} revoked · {result['skipped']} skipped")
    _print(result)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit hash chain: exit 0 when intact, 1 naming the first broken event."""
    settings, _ = _settings()

    async def run() -> Any:
        db = Database(settings.database_url)
        try:
            return await verify(db)
        finally:
            await db.dispose()

    report = asyncio.run(run())
    if report.intact:
        _console.print(f"Audit chain intact ({report.events} events)")
        return
    _console.print(f"[red]Audit chain broken[/red] at event {report.broken_id} ({report.problem}): {report.message}")
    raise typer.Exit(1)


def revoke_unlinked_guardians() -> int:
    """After an import: create the guardian delegations of new links (parents with an account) and revoke those
    whose link disappeared."""
    async def work(service: DelegationService) -> int:
        summary = await service.sync_guardians()
        if summary.created:
            _console.print(f"{summary.created} guardian delegation(s) created from new parental links")
        return summary.revoked

    count = _run(work)
    if count:
        _console.print(f"{count} guardian delegation(s) revoked: their registry link disappeared")
    return count


def after_registry_import(command: Callable[..., None]) -> Callable[..., None]:
    """Wrap `registry import`: once the import wrote (fully, or partly before it stopped: exit 1), sync the
    guardian delegations (new links of parents who have an account; links that are gone are revoked). Same
    parameters and help as the wrapped command."""

    @functools.wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except typer.Exit as stopped:
            if stopped.exit_code == 1:
                revoke_unlinked_guardians()
            raise
        revoke_unlinked_guardians()

    return wrapped
