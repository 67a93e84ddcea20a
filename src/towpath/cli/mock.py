"""`towpath mock ...`: generate YAML mocks from live tables, and check mocks against them."""

from __future__ import annotations

import sys

import click

from towpath.cli import render
from towpath.cli.options import json_option, project_from


@click.group("mock")
def cli() -> None:
    """Generate or validate YAML mock datasets for unit tests (format: docs/testing.md)."""


@cli.command()
@click.argument("table")
@click.option("--columns", help="Comma-separated columns to keep (default: all).")
@click.option("--where", help="SQL filter in the project's dialect, e.g. \"date = DATE '2022-01-01'\".")
@click.option("--rows", default=10, show_default=True, type=click.IntRange(min=0), help="At most this many rows.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE (default: print the mock).")
@json_option
@click.pass_context
def generate(
    ctx: click.Context, table: str, columns: str | None, where: str | None, rows: int, output: str | None, as_json: bool
) -> None:
    """Write a readable YAML mock from a few rows of TABLE (db.table)."""
    from towpath.testing import generate_mock, write_mock

    project = project_from(ctx)
    names = [c for c in columns.split(",") if c.strip()] if columns else None
    if output:
        path = write_mock(project, table, output, columns=names, where=where, rows=rows)
        if as_json:
            render.json_out({"table": table, "path": str(path)})
        else:
            render.success(f"wrote {path}")
        return
    text = generate_mock(project, table, columns=names, where=where, rows=rows)
    if as_json:
        render.json_out({"table": table, "mock": text})
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@json_option
@click.pass_context
def validate(ctx: click.Context, files: tuple[str, ...], as_json: bool) -> None:
    """Check mock FILES against the live tables: columns, types and values. Exits 1 on any problem."""
    from towpath.testing import validate_mocks

    reports = validate_mocks(project_from(ctx), files)
    if as_json:
        render.json_out([{"path": str(r.path), "table": r.table, "ok": r.ok, "problems": r.problems} for r in reports])
    else:
        for report in reports:
            if report.ok:
                render.success(f"{report.path}: matches {report.table}")
            else:
                for line in report.lines():
                    render.err_console.print(f"[red]✗[/red] {line}", highlight=False, soft_wrap=True)
    if not all(r.ok for r in reports):
        sys.exit(1)
