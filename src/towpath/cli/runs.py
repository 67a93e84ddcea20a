"""`towpath runs ...`: the recorded history of workflow runs, job runs and audit results."""

from __future__ import annotations

from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import output, project_from
from towpath.status import Status


@click.group("runs")
def cli() -> None:
    """Show recorded workflow runs (status, timings, parameters, rows, snapshots, audits)."""


@cli.command("list")
@click.option("--workflow", "workflow_id", help="Only runs of this workflow id.")
@click.option("--status", type=click.Choice([s.value for s in Status]), help="Only runs with this status (dead processes show as killed).")
@click.option("--kind", type=click.Choice(["main", "daily", "backfill"]))
@click.option("--since", metavar="DATE", help="Only runs whose execution date is on or after DATE.")
@click.option("--until", metavar="DATE", help="Only runs whose execution date is on or before DATE.")
@click.option("-n", "--limit", default=20, show_default=True)
@output(render.runs_table)
@click.pass_context
def list_(ctx: click.Context, workflow_id: str | None, status: str | None, kind: str | None, since: str | None,
          until: str | None, limit: int) -> Any:
    """List recent runs, newest first.

    Example: towpath runs list --status audit_failed --since 2024-01-01 --json
    """
    return project_from(ctx).state.list_runs(limit=limit, workflow_id=workflow_id, status=status, kind=kind,
                                             since=since, until=until)


@cli.command()
@click.argument("run_id")
@output(render.run_detail)
@click.pass_context
def show(ctx: click.Context, run_id: str) -> Any:
    """Show one run: its jobs, rows written, snapshots and audit results."""
    return project_from(ctx).state.get_run(run_id)
