"""`towpath workflow ...`: run one date, a daily run with lookback, a backfill; print the JSON Schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from towpath.cli import render
from towpath.cli.options import env_option, json_requested, output, project_from

if TYPE_CHECKING:
    from towpath.workflows import BackfillResult, DailyResult, DryRun, RunResult

params_option = click.option(
    "-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
    help="Set a parameter (repeatable); beats the workflow's and the project's params.",
)


def _exit_code(result: RunResult | DryRun | DailyResult | BackfillResult) -> int:
    """A run, daily or backfill that did not succeed exits 1; a dry run never fails (it ran nothing)."""
    from towpath.workflows import DryRun

    return 0 if isinstance(result, DryRun) or result.ok else 1


@click.group("workflow")
def cli() -> None:
    """Run workflows (`*.sch.yaml`): main for one date, daily with lookback, or a backfill."""


@cli.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@params_option
@click.option("--date", help="Execution date (default: -p DATE=..., else today in the project timezone).")
@click.option("--dry-run", is_flag=True, help="Print the resolved steps, parameters and SQL; run nothing.")
@env_option
@output(render.workflow_run, exit_code=_exit_code)
@click.pass_context
def run(
    ctx: click.Context, workflow: str, params: tuple[str, ...], date: str | None, dry_run: bool
) -> RunResult | DryRun:
    """Run the main WORKFLOW once.

    \b
    Example:
      towpath workflow run main.sch.yaml -p DATE=2022-01-01
      towpath workflow run main.sch.yaml --date 2022-01-01 --dry-run
    """
    from towpath.config import parse_assignments

    return project_from(ctx, near=workflow).run(workflow, date=date, params=parse_assignments(params), dry_run=dry_run)


@cli.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@params_option
@click.option("--today", help="Pretend today is this date (default: today in the workflow's timezone).")
@env_option
@output(render.daily_result, exit_code=_exit_code)
@click.pass_context
def daily(ctx: click.Context, workflow: str, params: tuple[str, ...], today: str | None) -> DailyResult:
    """Run a daily WORKFLOW: main for today and its `lookback_days`, then advance high-water marks.

    Failures are written to the run log and, if configured, POSTed to the notification webhook.
    """
    from towpath.config import parse_assignments

    return project_from(ctx, near=workflow).daily(workflow, today=today, params=parse_assignments(params))


@cli.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@click.option("--start", help="First date (inclusive), e.g. 2022-01-01.")
@click.option("--end", help="Last date (inclusive).")
@click.option("--parallel", type=click.IntRange(min=1), help="Dates to run at the same time.")
@click.option("--force", is_flag=True, help="Rerun dates that already succeeded.")
@params_option
@env_option
@output(render.backfill_result, exit_code=_exit_code)
@click.pass_context
def backfill(
    ctx: click.Context, workflow: str, start: str | None, end: str | None, parallel: int | None, force: bool,
    params: tuple[str, ...],
) -> BackfillResult:
    """Run the main workflow of a backfill WORKFLOW for every date from --start to --end.

    Dates that already succeeded are skipped unless --force, so rerunning a
    failed backfill resumes where it stopped.
    """
    from towpath.config import parse_assignments

    project = project_from(ctx, near=workflow)
    with render.BackfillBar(enabled=not json_requested(ctx)) as bar:
        return project.backfill(
            workflow, start=start, end=end, parallel=parallel, force=force, params=parse_assignments(params),
            progress=bar,
        )


@cli.command()
@click.option("-o", "--output", "path", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def schema(path: str | None) -> None:
    """Print the JSON Schema of `*.sch.yaml` files (for editor validation)."""
    import json

    from towpath.workflows.schema import workflow_json_schema

    text = json.dumps(workflow_json_schema(), indent=2) + "\n"
    if path:
        render.success(f"wrote {render.write_file(path, text)}")
    else:
        click.echo(text, nl=False)
