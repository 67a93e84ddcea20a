"""`towpath project ...`: create, inspect, validate and unit-test a project; deploy, promote and list environments."""

from __future__ import annotations

import sys
from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import json_requested, output, project_from
from towpath.errors import TowpathError


@click.group("project")
def cli() -> None:
    """Create, inspect, validate and unit-test a towpath project (a folder with towpath.yaml);
    deploy git branches as isolated environments and promote them to production."""


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


# -- environments: deploy, promote, ci, env list|drop ----------------------------------------------------


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def _deployed(result: Any) -> None:
    for warning in result.warnings:
        render.warning(warning)
    d = result.deployment
    where = f"environment {result.env}" if result.env else "production"
    render.key_values({
        "deployed": where, "commit": (d.commit_sha or "-")[:12] + (" (dirty)" if d.dirty else ""),
        "branch": d.branch or "-", "workflows": ", ".join(d.workflows) or "-",
        "schedules": "\n".join(d.schedules) or "-", "writes": "\n".join(d.tables) or "-",
    }, title=f"Deployment {d.id}")
    for run in result.runs:
        render.workflow_run(run)
    if result.env and not result.runs:
        render.console.print(f"run its workflows with --env {result.env} (or TOWPATH_ENV={result.env}); "
                             f"then `towpath project promote --env {result.env}`")


@cli.command()
@click.option("--env", "env", metavar="NAME", help="Environment to deploy (default: the current git branch; "
              "main/master is production).")
@click.option("--run", "run_now", is_flag=True, help="Also run every main workflow once in the environment.")
@click.option("--date", help="Execution date of those runs (default: today).")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Parameter of those runs.")
@output(_deployed, exit_code=lambda result: 0 if result.ok else 1)
@click.pass_context
def deploy(ctx: click.Context, env: str | None, run_now: bool, date: str | None, params: tuple[str, ...]) -> Any:
    """Deploy this checkout as an environment: its own copy of every table it writes, its own runs.

    The environment is named after the git branch (`feature/orders-v2` -> `feature_orders_v2`);
    on main/master it is production. Tables the environment writes become `db__ENV.table`
    copies (cut from production at their first write, no data copied); everything else is
    read from production. Validates every workflow first and records the commit, workflows,
    schedules and written tables in the state room.

    \b
    Examples:
      towpath project deploy                      # the current branch's environment
      towpath project deploy --run -p DATE=2022-01-02
      towpath workflow run main.sch.yaml --env feature_orders_v2
      towpath project promote --env feature_orders_v2
    """
    from towpath.config import parse_assignments
    from towpath.deploy import deploy as deploy_env

    return deploy_env(project_from(ctx), env, run=run_now, date=date, params=parse_assignments(params))


def _promoted(result: Any) -> None:
    for warning in result.warnings:
        render.warning(warning)
    render.console.print(f"promoted environment {result.env} to production"
                         + (" (--force: moved production tables replaced)" if result.forced else ""))
    for p in result.tables:
        note = "created in production" if p.created else f"{p.snapshots} snapshot(s)"
        if p.moved:
            note += "; production had moved and was replaced"
        render.console.print(f"  {p.table}: {p.production_before or '-'} -> {p.production_after or '-'} ({note})",
                             soft_wrap=True, highlight=False)


@cli.command()
@click.option("--env", "env", required=True, metavar="NAME", help="The environment to promote.")
@click.option("--force", is_flag=True, help="Replace production tables that moved since the environment branched.")
@output(_promoted)
@click.pass_context
def promote(ctx: click.Context, env: str, force: bool) -> Any:
    """Make production take an environment's tables, all in one atomic commit.

    Refused unless every deployed workflow's last run of each date it ran in the environment
    succeeded with every blocking audit passed (failed non-blocking audits are shown), and,
    without --force, if a production table moved since the environment branched from it.

    \b
    Example:
      towpath project promote --env feature_orders_v2
    """
    from towpath.deploy import promote as promote_env

    return promote_env(project_from(ctx), env, force=force)


def _ci_written(result: dict[str, Any]) -> None:
    if result["path"] is None:
        click.echo(result["text"], nl=False)
    else:
        render.console.print(f"wrote {result['path']} ({result['provider']}): "
                             + " -> ".join(s["name"] for s in result["steps"]))


@cli.command()
@click.option("--provider", type=click.Choice(["github", "gitlab"]), required=True, help="CI system.")
@click.option("--output", "path", type=click.Path(dir_okay=False),
              help="Write here (default: .github/workflows/towpath.yml or .gitlab-ci.yml at the repository root; "
                   "`-` prints it).")
@click.option("--install", default="pip install towpath", show_default=True, help="How CI installs towpath.")
@output(_ci_written)
@click.pass_context
def ci(ctx: click.Context, provider: str, path: str | None, install: str) -> dict[str, Any]:
    """Write the CI configuration that validates, tests and deploys every push.

    Each push validates the workflows, runs the unit tests and deploys the branch's
    environment with its main workflows (`project deploy --run`); main/master deploys
    production. Promotion is a manual job naming the environment.

    \b
    Examples:
      towpath project ci --provider github
      towpath project ci --provider gitlab --output -
    """
    from pathlib import Path

    from towpath.deploy import ci_config, git_state, write_ci

    project = project_from(ctx)
    try:
        repo = git_state(project.root).root
    except TowpathError:
        repo = project.root
    relative = project.root.relative_to(repo) if project.root.is_relative_to(repo) else project.root
    config = ci_config(provider, project_dir=str(relative), install=install, repo_root=repo,
                       output=Path(path) if path and path != "-" else None)
    written = None if path == "-" else write_ci(config)
    return {"provider": provider, "path": written, "text": config.text,
            "steps": [{"name": s.name, "commands": s.commands} for s in config.steps]}


@cli.group("env")
def env_group() -> None:
    """List and drop environments (see `towpath project deploy`)."""


def _env_rows(envs: list[Any]) -> None:
    def when(d: Any) -> str:
        return f"{d.at[5:10]}T{d.at[11:16]}" if d is not None else "-"

    rows = [{"env": e.name, "commit": ((e.deployed.commit_sha or "-")[:8] if e.deployed else "-"),
             "deployed": when(e.deployed), "promoted": when(e.promoted), "tables": len(e.tables),
             "snaps": e.snapshots, "files": e.files, "size": _bytes(e.bytes)} for e in envs]
    if not rows:
        render.console.print("no environments (deploy a branch with `towpath project deploy`)")
        return
    render.table(rows, ["env", "commit", "deployed", "promoted", "tables", "snaps", "files", "size"],
                 title="Environments (cost beyond production)")


@env_group.command("list")
@output(_env_rows)
@click.pass_context
def env_list(ctx: click.Context) -> Any:
    """Environments: what each deployed, when it was promoted, and what its copies cost beyond production.

    \b
    Example:
      towpath project env list --json
    """
    from towpath.deploy import environments

    return environments(project_from(ctx))


def _dropped(env: Any) -> None:
    render.console.print(f"dropped environment {env.name}: {len(env.tables)} table copies, {env.files} files "
                         f"({_bytes(env.bytes)}) removed; production unchanged")


@env_group.command("drop")
@click.argument("name")
@output(_dropped)
@click.pass_context
def env_drop(ctx: click.Context, name: str) -> Any:
    """Drop environment NAME: its table copies and the files only they reference (never production's).

    \b
    Example:
      towpath project env drop feature_orders_v2
    """
    from towpath.deploy import drop

    return drop(project_from(ctx), name)
