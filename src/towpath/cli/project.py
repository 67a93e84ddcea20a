"""`towpath project ...`: create, inspect, validate and unit-test a project."""

from __future__ import annotations

import sys

import click

from towpath.cli import render
from towpath.cli.options import json_option, project_from


@click.group("project")
def cli() -> None:
    """Create, inspect, validate and unit-test a towpath project (a folder with towpath.yaml)."""


@cli.command()
@click.argument("path", default=".", type=click.Path(file_okay=False))
@click.option("--name", help="Project name (default: the folder's name).")
def init(path: str, name: str | None) -> None:
    """Create a project in PATH (default: the current folder) with the embedded defaults:
    a SQLite Iceberg catalog and warehouse under .towpath/, and DuckDB as the engine."""
    from towpath.project import Project

    project = Project.init(path, name=name)
    render.success(f"created {project.root / 'towpath.yaml'}")


@cli.command()
@json_option
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Show the project's resolved settings."""
    project = project_from(ctx)
    info = {"root": str(project.root), **project.config.model_dump()}
    if as_json:
        render.json_out(info)
    else:
        render.key_values({k: v for k, v in info.items()}, title=project.config.name)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("paths", nargs=-1, type=click.UNPROCESSED)
@click.option("-k", "keyword", help="Only tests matching this pytest -k expression.")
@click.pass_context
def test(ctx: click.Context, paths: tuple[str, ...], keyword: str | None) -> None:
    """Run the project's unit tests (src/test_*.py of every workflow folder, or PATHS) with pytest.

    Extra pytest options may follow the paths, e.g. `towpath project test -- -x -q`.
    """
    from towpath.testing import run_project_tests

    files = [p for p in paths if not p.startswith("-")]
    extra = [p for p in paths if p.startswith("-")]
    sys.exit(run_project_tests(project_from(ctx), files, keyword=keyword, extra_args=extra))


@cli.command()
@json_option
@click.pass_context
def validate(ctx: click.Context, as_json: bool) -> None:
    """Check every workflow, SQL script and mock without running anything: syntax, tables and columns.

    Reports every problem as file:line: message and exits 1 if there is any.
    """
    from towpath.testing import validate_project

    problems = validate_project(project_from(ctx))
    if as_json:
        render.json_out({"ok": not problems, "problems": [{"file": str(p.file), "line": p.line, "message": p.message}
                                                           for p in problems]})
    elif problems:
        for problem in problems:
            render.err_console.print(f"[red]✗[/red] {problem}", highlight=False, soft_wrap=True)
        render.err_console.print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found", highlight=False)
    else:
        render.success("every workflow, SQL script and mock is valid")
    if problems:
        sys.exit(1)
