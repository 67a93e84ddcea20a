"""`towpath project ...`: create and inspect a project."""

from __future__ import annotations

import click

from towpath.cli import render
from towpath.cli.options import json_option, project_from


@click.group("project")
def cli() -> None:
    """Create and inspect a towpath project (a folder with towpath.yaml)."""


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
