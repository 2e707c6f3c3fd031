"""`python -m idp …` / `mandat …`: serve, migrate, demo, accounts, clients, keys, and the domain commands.

Every command reads the same `MANDAT_*` settings as the server.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from idp.errors import ConfigurationError, MandatError
from idp.settings import Settings

app = typer.Typer(help="Mandat identity provider.", no_args_is_help=True, add_completion=False)
account_app = typer.Typer(help="People's accounts.", no_args_is_help=True)
client_app = typer.Typer(help="Relying-party clients.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data and the demo relying portal.", no_args_is_help=True)
app.add_typer(account_app, name="account")
app.add_typer(client_app, name="client")
app.add_typer(keys_app, name="keys")
app.add_typer(demo_app, name="demo")

console = Console(stderr=True)
T = TypeVar("T")


def settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        console.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def fail(message: str) -> typer.Exit:
    console.print(f"[red]Error:[/red] {message}")
    return typer.Exit(1)


@app.command()
def serve(host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
          workers: Annotated[int, typer.Option(help="Server processes (needs MANDAT_REDIS_URL if > 1).")] = 1,
          access_log: Annotated[bool, typer.Option(help="Log one line per request (method, route template, status, time; never the query string).")] = False) -> None:
    """Start the IdP (metrics on MANDAT_METRICS_BIND when set; JSON logs unless MANDAT_LOG_FORMAT=text)."""
    import uvicorn

    from idp.http.server import server_options
    from idp.observability.logs import logging_config
    from idp.observability.process import prepare_multiprocess

    current = settings()
    if workers > 1 and current.redis_url is None:
        raise fail(f"--workers {workers} needs MANDAT_REDIS_URL: without it each process keeps codes, sessions and "
                   "sign-in transactions in its own memory (the in-process store), so a step that lands on another "
                   "process would not find them. Set MANDAT_REDIS_URL=redis://… or use --workers 1.")
    if current.metrics_address is not None:
        # Before any import of prometheus_client, here or in the workers (idp/observability/metrics.py).
        prepare_multiprocess(current)
        from idp.observability.metrics import start_metrics_server

        bound = start_metrics_server(current)
        if bound is not None:
            console.print(f"Metrics on http://{bound[0]}:{bound[1]}/metrics")
    uvicorn.run("idp.asgi:app", host=host, port=port, workers=workers, loop="uvloop", http="httptools",
                access_log=False, log_config=logging_config(current, access_log=access_log),
                **server_options(current))


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (SQLite or PostgreSQL)."""
    from idp.migrations import upgrade

    current = settings()
    upgrade(current.database_url)
    console.print(f"[green]Schema up to date[/green] ({current.database_url.split('@')[-1]})")


# --- accounts -------------------------------------------------------------------------------------------------

@account_app.command("add")
def account_add(username: Annotated[str, typer.Option(help="Sign-in name.")],
                password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
                given_name: Annotated[str | None, typer.Option()] = None,
                family_name: Annotated[str | None, typer.Option()] = None,
                email: Annotated[str | None, typer.Option()] = None,
                kind: Annotated[str, typer.Option(help="citizen | professional | staff | operator")] = "citizen") -> None:
    """Create an account (the password comes from stdin, never from the command line)."""
    from idp.container import build_container

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    if password_stdin and not password:
        raise fail("no password on stdin")

    async def run() -> str:
        container = build_container(settings())
        try:
            account = await container.accounts.create(username=username, password=password, kind=kind,
                                                      given_name=given_name, family_name=family_name, email=email)
            return account.id
        finally:
            await container.close()

    try:
        account_id = asyncio.run(run())
    except MandatError as exc:
        raise fail(str(exc)) from None
    console.print(f"[green]Account created[/green]: {username} ({account_id})")


@account_app.command("lock")
def account_lock(username: Annotated[str, typer.Option(help="Sign-in name.")],
                 reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")]) -> None:
    """Lock an account: no sign-in; its sessions end and its grants are revoked."""
    account_id = _admin_run(lambda ops, by: _by_username(ops, ops.lock_account, by, username), reason)
    console.print(f"[green]Account locked[/green]: {username} ({account_id})")


@account_app.command("unlock")
def account_unlock(username: Annotated[str, typer.Option(help="Sign-in name.")],
                   reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")]) -> None:
    """Unlock a locked account."""
    account_id = _admin_run(lambda ops, by: _by_username(ops, ops.unlock_account, by, username), reason)
    console.print(f"[green]Account unlocked[/green]: {username} ({account_id})")


async def _by_username(ops: Any, change: Callable[[Any, str], Awaitable[Any]], by: Any, username: str) -> str:
    account = await change(by, await ops.account_id(username))
    return str(account.id)


# --- clients --------------------------------------------------------------------------------------------------

@client_app.command("add")
def client_add(client_id: Annotated[str, typer.Option(help="Client identifier.")],
               redirect_uri: Annotated[list[str] | None, typer.Option(help="Exact redirect URI (repeatable).")] = None,
               scope: Annotated[str, typer.Option(help="Allowed scopes, space-separated.")] = "openid profile",
               public: Annotated[bool, typer.Option("--public", help="Public client (no secret, PKCE only).")] = False,
               auth_method: Annotated[str | None, typer.Option(help="client_secret_basic | client_secret_post | private_key_jwt")] = None,
               jwks_uri: Annotated[str | None, typer.Option(help="JWKS URL for private_key_jwt.")] = None,
               jwks: Annotated[Path | None, typer.Option(help="JWKS file for private_key_jwt.")] = None,
               grant_type: Annotated[list[str] | None, typer.Option(help="Grant types (repeatable).")] = None,
               post_logout_redirect_uri: Annotated[list[str] | None, typer.Option(help="Repeatable.")] = None,
               name: Annotated[str | None, typer.Option(help="Name shown on consent pages.")] = None,
               subject_type: Annotated[str, typer.Option(help="pairwise | public")] = "pairwise",
               first_party: Annotated[bool, typer.Option("--first-party", help="Skip the consent page.")] = False,
               audience: Annotated[list[str] | None, typer.Option(help="Who signs in: citizen (default) | professional (repeatable; the first decides the sign-in page's primary way in).")] = None,
               admin_structure: Annotated[str | None, typer.Option(help="Admin API client: limit admin:delegations to the assistant delegations of this structure id.")] = None) -> None:
    """Register a client. A generated secret is printed once, on stdout; only its keyed hash is kept.

    An admin API client: `--grant-type client_credentials --scope "admin:delegations admin:accounts"`."""
    from idp.container import build_container

    method = "none" if public else (auth_method or "client_secret_basic")
    jwks_value = None
    if jwks is not None:
        try:
            jwks_value = json.loads(jwks.read_text())
        except (OSError, ValueError) as exc:
            raise fail(f"cannot read --jwks {jwks}: {exc}") from None
    grants = grant_type or (["authorization_code", "refresh_token"] if redirect_uri else ["client_credentials"])

    async def run() -> str | None:
        from idp.admin.operations import AdminOperations

        container = build_container(settings())
        try:
            created = await AdminOperations(container).create_client(
                _cli_admin(None), client_id=client_id, redirect_uris=redirect_uri or [], scopes=scope.split(),
                name=name, auth_method=method, grant_types=grants,
                post_logout_redirect_uris=post_logout_redirect_uri or [], jwks=jwks_value, jwks_uri=jwks_uri,
                subject_type=subject_type, first_party=first_party, audiences=audience or ["citizen"],
                admin_structure=admin_structure)
            return created.secret
        finally:
            await container.close()

    try:
        secret = asyncio.run(run())
    except MandatError as exc:
        raise fail(str(exc)) from None
    console.print(f"[green]Client registered[/green]: {client_id} ({method})")
    if secret:
        console.print("Client secret (shown once; store it now):")
        print(secret)


@client_app.command("rotate-secret")
def client_rotate_secret(client_id: Annotated[str, typer.Option(help="Client identifier.")],
                         reason: Annotated[str | None, typer.Option(help="Why (kept in the audit trail).")] = None) -> None:
    """Give a client a new secret, printed once on stdout; the old one stops working."""
    secret = _admin_run(lambda ops, by: ops.rotate_client_secret(by, client_id), reason)
    console.print(f"[green]New secret[/green] for {client_id} (shown once; store it now):")
    print(secret)


@client_app.command("disable")
def client_disable(client_id: Annotated[str, typer.Option(help="Client identifier.")],
                   reason: Annotated[str | None, typer.Option(help="Why (kept in the audit trail).")] = None) -> None:
    """Disable a client: no more tokens, sign-ins or admin API calls; the registration is kept."""
    _admin_run(lambda ops, by: ops.disable_client(by, client_id), reason)
    console.print(f"[green]Client disabled[/green]: {client_id}")


def _cli_admin(reason: str | None) -> Any:
    """The CLI as an administrator, `admin:cli:<user>` in the audit trail, like the delegation commands."""
    import getpass

    from idp.admin.operations import By

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return By(f"cli:{user}", reason)


def _admin_run(action: Callable[[Any, Any], Awaitable[T]], reason: str | None) -> T:
    """Run one administrative change through idp.admin.operations: the admin API's own code path."""
    from idp.admin.operations import AdminOperations
    from idp.container import build_container

    async def run() -> T:
        container = build_container(settings())
        try:
            return await action(AdminOperations(container), _cli_admin(reason))
        finally:
            await container.close()

    try:
        return asyncio.run(run())
    except MandatError as exc:
        generic = exc.public == MandatError.public
        raise fail(exc.detail if generic else f"{exc.public} ({exc.detail})" if exc.detail else exc.public) from None


@client_app.command("list")
def client_list() -> None:
    """List registered clients."""
    from idp.container import build_container

    async def run() -> list[list[str]]:
        container = build_container(settings())
        try:
            return [[c.client_id, c.auth_method, " ".join(sorted(c.grant_types)), " ".join(sorted(c.scopes)),
                     "\n".join(c.redirect_uris)] for c in await container.clients.list()]
        finally:
            await container.close()

    table = Table("client_id", "auth", "grants", "scopes", "redirect URIs")
    for row in asyncio.run(run()):
        table.add_row(*row)
    Console().print(table)


# --- keys -----------------------------------------------------------------------------------------------------

@keys_app.command("rotate")
def keys_rotate(delay: Annotated[int | None, typer.Option(help="Seconds before the new key signs (default MANDAT_KEY_ACTIVATION_DELAY).")] = None) -> None:
    """Publish a new signing key now; it signs after the activation delay. Prunes expired old keys."""
    from idp.oidc.keystore import KeyStore

    current = settings()
    store = KeyStore(current.keys_path, max_token_ttl=current.max_token_ttl)
    store.ensure_key()
    stored = store.rotate(activation_delay=current.key_activation_delay if delay is None else delay)
    console.print(f"[green]New key[/green] {stored.key.kid} published; signs from "
                  f"{_fmt_time(stored.not_before)}")


@keys_app.command("list")
def keys_list() -> None:
    """Show signing keys and their state."""
    from idp.oidc.keystore import KeyStore

    current = settings()
    store = KeyStore(current.keys_path, max_token_ttl=current.max_token_ttl)
    store.ensure_key()
    table = Table("kid", "alg", "signs from", "state")
    for stored in store.keys():
        table.add_row(stored.key.kid, stored.key.alg, _fmt_time(stored.not_before), store.state(stored))
    Console().print(table)


def _fmt_time(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- demo -----------------------------------------------------------------------------------------------------

@demo_app.command("seed")
def demo_seed(force: Annotated[bool, typer.Option(help="Seed even if the database has accounts.")] = False) -> None:
    """Seed demo accounts, the demo portal client and domain demo data (only into an empty database)."""
    from idp.demo.seed import seed

    asyncio.run(seed(settings(), force=force, console=console))


@demo_app.command("run")
def demo_run(host: str = "127.0.0.1", port: int = 8000, portal_port: int = 8001) -> None:
    """Migrate, seed if empty, then serve the IdP and the demo relying portal together."""
    from idp.demo.run import run_demo

    run_demo(settings(), host=host, port=port, portal_port=portal_port)


# --- domain commands ----------------------------------------------------------------------------------------
# Each domain keeps its commands in its own cli.py; they are mounted here under the documented names.

registry_app = typer.Typer(help="Insurer registry (citizen enrollment).", no_args_is_help=True)
letters_app = typer.Typer(help="Mailed security-code letters.", no_args_is_help=True)
directory_app = typer.Typer(help="Professional directory (RPPS extract).", no_args_is_help=True)
cards_app = typer.Typer(help="CPS cards: test PKI, virtual card.", no_args_is_help=True)


def _mount_domain_commands() -> None:
    from idp.cards import cli as cards_cli
    from idp.delegation import cli as delegation_cli
    from idp.enrollment import cli as enrollment_cli

    # After an import, guardian delegations whose parental link disappeared are revoked.
    registry_app.command("import")(delegation_cli.after_registry_import(enrollment_cli.registry_import))
    registry_app.command("demo")(enrollment_cli.registry_demo)
    letters_app.command("export")(enrollment_cli.letters_export)
    directory_app.command("import")(cards_cli.directory_import_command)
    cards_app.command("make-test-pki")(cards_cli.make_test_pki_command)
    cards_app.command("virtual-card")(cards_cli.virtual_card_command)
    app.command("card-agent")(cards_cli.card_agent_command)
    app.add_typer(registry_app, name="registry")
    app.add_typer(letters_app, name="letters")
    app.add_typer(directory_app, name="directory")
    app.add_typer(cards_app, name="cards")
    app.add_typer(delegation_cli.app, name="delegation")
    app.add_typer(delegation_cli.audit_app, name="audit")


_mount_domain_commands()


def main() -> None:
    app()
