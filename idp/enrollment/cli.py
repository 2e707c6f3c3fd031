"""Enrollment commands. The lead mounts `app` as `python -m idp registry import` / `python -m idp letters export`."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from idp.db import Database
from idp.enrollment.config import EnrollmentSettings
from idp.enrollment.demo import demo_registry_rows, write_demo_csv
from idp.enrollment.errors import RegistryFormatError
from idp.enrollment.letters import export_letters
from idp.enrollment.registry_import import ImportSummary, import_registry
from idp.errors import ConfigurationError
from idp.settings import Settings

__all__ = ["app", "demo_registry_rows"]

app = typer.Typer(help="Citizen enrollment: insurer registry and mailed letters.", no_args_is_help=True)
_console = Console(stderr=True)


class RegistryFileFormat(StrEnum):
    csv = "csv"
    fhir = "fhir"


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        _console.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None


def _print_summary(summary: ImportSummary) -> None:
    _console.print(
        f"imported {summary.imported:,} · updated {summary.updated:,} · unchanged {summary.unchanged:,} · "
        f"rejected {summary.rejected:,} · new parental links {summary.links_added:,} · "
        f"{summary.rows_per_second:,.0f} rows/s in {summary.seconds:.1f} s"
    )


@app.command("registry-import")
def registry_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV or FHIR Bundle file."),
    fmt: RegistryFileFormat | None = typer.Option(
        None, "--format", help="csv or fhir; by default from the file name (.json is fhir, anything else csv)."
    ),
    batch_size: int | None = typer.Option(
        None, min=1, help="Rows per transaction (default: 10,000 on PostgreSQL, 1,000 on SQLite)."),
) -> None:
    """Import or update the insurer registry. Bad rows are reported with their line and skipped."""
    settings = _settings()
    chosen = fmt.value if fmt else ("fhir" if file.suffix.lower() == ".json" else "csv")

    async def run() -> ImportSummary:
        db = Database(settings.database_url)
        try:
            return await import_registry(db, file, chosen, batch_size=batch_size, console=_console)
        finally:
            await db.dispose()

    try:
        summary = asyncio.run(run())
    except RegistryFormatError as exc:
        _console.print(f"[red]cannot import:[/] {exc}")
        raise typer.Exit(1) from None
    _print_summary(summary)
    if summary.stopped is not None:
        raise typer.Exit(1)


@app.command("letters-export")
def letters_export(
    out: Path = typer.Option(..., "--out", file_okay=False, help="Folder receiving the PDFs."),
) -> None:
    """Render pending security-code letters to PDF (one per letter + one batch) and mark them sent."""
    settings = _settings()
    enrollment = settings.domain(EnrollmentSettings.from_env)

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            return await export_letters(db, out, settings=enrollment)
        finally:
            await db.dispose()

    count = asyncio.run(run())
    _console.print(f"{count} letter(s) written to {out}")


@app.command("registry-demo")
def registry_demo(
    out: Path = typer.Option(..., "--out", dir_okay=False, help="CSV file to write."),
    rows: int = typer.Option(1000, min=1, max=2_000_000, help="How many synthetic records."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same file."),
) -> None:
    """Write a synthetic registry CSV (valid NAM/NIR, parental links) for demos and benchmarks."""
    write_demo_csv(out, rows, seed=seed)
    _console.print(f"{rows:,} rows written to {out}")
