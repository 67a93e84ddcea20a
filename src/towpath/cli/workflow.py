"""`towpath workflow ...`: run one date, a daily run with lookback, a backfill; print the JSON Schema."""

from __future__ import annotations

import sys
from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import json_option, project_from

params_option = click.option(
    "-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
    help="Set a parameter (repeatable); beats the workflow's and the project's params.",
)


@click.group("workflow")
def cli() -> None:
    """Run workflows (`*.sch.yaml`): main for one date, daily with lookback, or a backfill."""


@cli.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@params_option
@click.option("--date", help="Execution date (default: -p DATE=..., else today in the project timezone).")
@click.option("--dry-run", is_flag=True, help="Print the resolved steps, parameters and SQL; run nothing.")
@json_option
@click.pass_context
def run(ctx: click.Context, workflow: str, params: tuple[str, ...], date: str | None, dry_run: bool, as_json: bool) -> None:
    """Run the main WORKFLOW once.

    \b
    Example:
      towpath workflow run main.sch.yaml -p DATE=2022-01-01
      towpath workflow run main.sch.yaml --date 2022-01-01 --dry-run
    """
    from towpath.config import parse_assignments

    project = project_from(ctx)
    result = project.run(workflow, date=date, params=parse_assignments(params), dry_run=dry_run)
    if as_json:
        render.json_out(result)
    elif dry_run:
        render.dry_run(result)
    else:
        render.run_result(result)
    _exit_for(result)


@cli.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@params_option
@click.option("--today", help="Pretend today is this date (default: today in the workflow's timezone).")
@json_option
@click.pass_context
def daily(ctx: click.Context, workflow: str, params: tuple[str, ...], today: str | None, as_json: bool) -> None:
    """Run a daily WORKFLOW: main for today and its `lookback_days`, then advance high-water marks.

    Failures are written to the run log and, if configured, POSTed to the notification webhook.
    """
    from towpath.config import parse_assignments

    result = project_from(ctx).daily(workflow, today=today, params=parse_assignments(params))
    if as_json:
        render.json_out(result)
    else:
        for run in result.runs:
            render.run_result(run)
        render.daily_result(result)
    _exit_for(result)


@cli.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@click.option("--start", help="First date (inclusive), e.g. 2022-01-01.")
@click.option("--end", help="Last date (inclusive).")
@click.option("--parallel", type=click.IntRange(min=1), help="Dates to run at the same time.")
@click.option("--force", is_flag=True, help="Rerun dates that already succeeded.")
@params_option
@json_option
@click.pass_context
def backfill(
    ctx: click.Context, workflow: str, start: str | None, end: str | None, parallel: int | None, force: bool,
    params: tuple[str, ...], as_json: bool,
) -> None:
    """Run the main workflow of a backfill WORKFLOW for every date from --start to --end.

    Dates that already succeeded are skipped unless --force, so rerunning a
    failed backfill resumes where it stopped.
    """
    from towpath.config import parse_assignments

    project = project_from(ctx)
    with render.BackfillBar(enabled=not as_json) as bar:
        result = project.backfill(
            workflow, start=start, end=end, parallel=parallel, force=force, params=parse_assignments(params),
            progress=bar,
        )
    if as_json:
        render.json_out(result)
    else:
        render.backfill_result(result)
    _exit_for(result)


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def schema(output: str | None) -> None:
    """Print the JSON Schema of `*.sch.yaml` files (for editor validation)."""
    import json

    from towpath.workflows.schema import workflow_json_schema

    text = json.dumps(workflow_json_schema(), indent=2)
    if output:
        with open(output, "w") as handle:
            handle.write(text + "\n")
        render.success(f"wrote {output}")
    else:
        click.echo(text)


def _exit_for(result: Any) -> None:
    status = getattr(result, "status", "success")
    if status not in ("success", None) and not hasattr(result, "steps"):
        sys.exit(1)
