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
@click.option("-n", "--limit", default=20, show_default=True)
@output(render.runs_table)
@click.pass_context
def list_(ctx: click.Context, workflow_id: str | None, status: str | None, kind: str | None, limit: int) -> Any:
    """List recent runs, newest first."""
    return project_from(ctx).state.list_runs(limit=limit, workflow_id=workflow_id, status=status, kind=kind)


@cli.command()
@click.argument("run_id")
@output(render.run_detail)
@click.pass_context
def show(ctx: click.Context, run_id: str) -> Any:
    """Show one run: its jobs, rows written, snapshots and audit results."""
    return project_from(ctx).state.get_run(run_id)
