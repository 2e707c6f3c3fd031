"""Card commands. The lead mounts `app` in idp/cli.py (e.g. `python -m idp directory import FILE`).

    make-test-pki --out DIR          test root, issuing CA, demo cards, CRLs and a demo directory extract
    directory-import FILE            import a PS_LibreAcces extract (progress bar, summary)
    virtual-card --card-dir DIR      plug a virtual card into pcscd through vpcd
    card-agent                       run the card agent on 127.0.0.1
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from idp.cards.agent import run_agent
from idp.cards.config import CardSettings, parse_origin
from idp.cards.directory import DirectoryFormatError, ImportSummary, import_directory
from idp.cards.testpki import make_test_pki
from idp.cards.vpcd import main as vpcd_main
from idp.db import Database
from idp.errors import ConfigurationError
from idp.settings import Settings

__all__ = ["app"]

app = typer.Typer(help="CPS cards: test PKI, professional directory, virtual card, card agent.",
                  no_args_is_help=True)
console = Console(stderr=True)


def _settings() -> tuple[Settings, CardSettings]:
    settings = Settings.from_env()
    return settings, settings.domain(CardSettings.from_env)


@app.command("make-test-pki")
def make_test_pki_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the test PKI into.")] = Path("var/test-pki"),
) -> None:
    """Generate a TEST PKI modelled on IGC-Santé, demo cards (one revoked) and a matching directory extract."""
    # No settings are read here: they may point at the PKI this command is about to create.
    pki = make_test_pki(out.resolve())  # absolute paths: the printed exports work from any folder
    console.print(f"[green]test PKI written to {pki.out_dir}[/]")
    for national_id, card_dir in pki.card_dirs.items():
        state = " [red](revoked)[/]" if national_id in pki.revoked else ""
        console.print(f"  card {national_id}: {card_dir}{state}")
    console.print("Set these to trust it:")
    for name, value in pki.env().items():
        typer.echo(f"export {name}={value}")


def _print_summary(summary: ImportSummary) -> None:
    console.print(f"imported {summary.imported:,} · updated {summary.updated:,} · unchanged {summary.unchanged:,} "
                  f"· rejected {summary.rejected:,} in {summary.seconds:.1f} s")
    if summary.rejected > len(summary.rejections):
        console.print(f"(only the first {len(summary.rejections)} rejections were listed)")


@app.command("directory-import")
def directory_import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="PS_LibreAcces extract (pipe-separated).")],
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Import (upsert) professionals from an RPPS "PS_LibreAcces" extract. Safe to re-run."""
    settings, cards = _settings()

    async def run() -> ImportSummary:
        db = Database(settings.database_url)
        try:
            return await import_directory(db, file, progress, batch_size=cards.directory_batch_size,
                                          console=console)
        finally:
            await db.dispose()

    try:
        summary = asyncio.run(run())
    except DirectoryFormatError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    _print_summary(summary)


@app.command("virtual-card")
def virtual_card_command(
    card_dir: Annotated[Path, typer.Option("--card-dir", exists=True, file_okay=False,
                                           help="A card folder from make-test-pki.")],
    pin: Annotated[str, typer.Option(help="The card PIN (4 to 8 digits).")] = "1234",
    port: Annotated[int, typer.Option(help="vpcd port: 35963 = reader 00 00, 35964 = 00 01.")] = 35963,
) -> None:
    """Plug a virtual CPS card into pcscd (vpcd driver) until interrupted."""
    vpcd_main(["--card-dir", str(card_dir), "--pin", pin, "--port", str(port)])


@app.command("card-agent")
def card_agent_command(
    port: Annotated[int | None, typer.Option(help="Loopback port (default MANDAT_CARDS_AGENT_PORT).")] = None,
    idp_origin: Annotated[str | None, typer.Option(help="The only origin answered (default: the issuer's).")]
    = None,
    reader: Annotated[str | None, typer.Option(help="Use the reader whose name contains this.")] = None,
) -> None:
    """Run the card agent on 127.0.0.1 for the login page of the IdP."""
    try:
        _, cards = _settings()
        origin = parse_origin("--idp-origin", idp_origin) if idp_origin else cards.idp_origin
    except ConfigurationError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    run_agent(origin, port or cards.agent_port, reader=reader or cards.agent_reader)
