"""`towpath project ...`: create, inspect, validate and unit-test a project."""

from __future__ import annotations

import sys
from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import json_requested, output, project_from


@click.group("project")
def cli() -> None:
    """Create, inspect, validate and unit-test a towpath project (a folder with towpath.yaml)."""


@cli.command()
@click.argument("path", default=".", type=click.Path(file_okay=False))
@click.option("--name", help="Project name (default: the folder's name).")
@output(render.project_created)
def init(path: str, name: str | None) -> Any:
    """Create a project in PATH (default: the current folder) with the embedded defaults:
    a SQLite Iceberg catalog and warehouse under .towpath/, and DuckDB as the engine."""
    from towpath.project import Project

    project = Project.init(path, name=name)
    return {"root": project.root, "config": project.root / "towpath.yaml"}


@cli.command()
@output(render.project_settings)
@click.pass_context
def show(ctx: click.Context) -> dict[str, Any]:
    """Show the project's resolved settings."""
    project = project_from(ctx)
    return {"root": str(project.root), **project.config.model_dump()}


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("paths", nargs=-1, type=click.UNPROCESSED)
@click.option("-k", "keyword", help="Only tests matching this pytest -k expression.")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), help="Engine the tests' run_job uses (default duckdb).")
@output(render.tests_ran, exit_code=lambda run: run.exit_code)
@click.pass_context
def test(ctx: click.Context, paths: tuple[str, ...], keyword: str | None, engine: str | None) -> Any:
    """Run the project's unit tests (src/test_*.py of every workflow folder, or PATHS) with pytest.

    Extra pytest options may follow the paths, e.g. `towpath project test -- -x -q`. With --json,
    pytest's report goes to stderr and stdout gets each test's outcome; the exit code is pytest's.
    """
    from towpath.testing import run_project_tests

    files = [p for p in paths if not p.startswith("-")]
    extra = [p for p in paths if p.startswith("-")]
    output = sys.stderr if json_requested(ctx) else None
    return run_project_tests(project_from(ctx), files, keyword=keyword, extra_args=extra, engine=engine, output=output)


@cli.command()
@output(render.project_problems, exit_code=lambda report: 0 if report["ok"] else 1)
@click.pass_context
def validate(ctx: click.Context) -> dict[str, Any]:
    """Check every workflow, SQL script and mock without running anything: syntax, tables and columns.

    Reports every problem as file:line: message and exits 1 if there is any.
    """
    from towpath.testing import validate_project

    problems = validate_project(project_from(ctx))
    return {"ok": not problems, "problems": problems}
