"""`towpath mock ...`: generate YAML mocks from live tables, and check mocks against them."""

from __future__ import annotations

from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import output, project_from


@click.group("mock")
def cli() -> None:
    """Generate or validate YAML mock datasets for unit tests (format: docs/testing.md)."""


@cli.command()
@click.argument("table")
@click.option("--columns", help="Comma-separated columns to keep (default: all).")
@click.option("--where", help="SQL filter in the project's dialect, e.g. \"date = DATE '2022-01-01'\".")
@click.option("--rows", default=10, show_default=True, type=click.IntRange(min=0), help="At most this many rows.")
@click.option("-o", "--output", "path", type=click.Path(dir_okay=False), help="Write to FILE (default: print the mock).")
@output(render.mock_generated)
@click.pass_context
def generate(ctx: click.Context, table: str, columns: str | None, where: str | None, rows: int, path: str | None) -> Any:
    """Write a readable YAML mock from a few rows of TABLE (db.table)."""
    from towpath.testing import generate_mock, write_mock

    project = project_from(ctx)
    names = [c for c in columns.split(",") if c.strip()] if columns else None
    if path:
        return {"table": table, "path": write_mock(project, table, path, columns=names, where=where, rows=rows)}
    return {"table": table, "mock": generate_mock(project, table, columns=names, where=where, rows=rows)}


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@output(render.mock_reports, exit_code=lambda reports: 0 if all(r.ok for r in reports) else 1)
@click.pass_context
def validate(ctx: click.Context, files: tuple[str, ...]) -> Any:
    """Check mock FILES against the live tables: columns, types and values. Exits 1 on any problem."""
    from towpath.testing import validate_mocks

    return validate_mocks(project_from(ctx), files)
