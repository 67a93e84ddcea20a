"""`towpath runs ...`: the recorded history of workflow runs, job runs and audit results."""

from __future__ import annotations

import click

from towpath.cli import render
from towpath.cli.options import json_option, project_from


@click.group("runs")
def cli() -> None:
    """Show recorded workflow runs (status, timings, parameters, rows, snapshots, audits)."""


@cli.command("list")
@click.option("--workflow", "workflow_id", help="Only runs of this workflow id.")
@click.option("--status", type=click.Choice(["success", "failed", "audit_failed", "running"]))
@click.option("--kind", type=click.Choice(["main", "daily", "backfill"]))
@click.option("-n", "--limit", default=20, show_default=True)
@json_option
@click.pass_context
def list_(ctx: click.Context, workflow_id: str | None, status: str | None, kind: str | None, limit: int, as_json: bool) -> None:
    """List recent runs, newest first."""
    runs = project_from(ctx).state.list_runs(limit=limit, workflow_id=workflow_id, status=status, kind=kind)
    if as_json:
        render.json_out(runs)
    else:
        render.runs_table(runs)


@cli.command()
@click.argument("run_id")
@json_option
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show one run: its jobs, rows written, snapshots and audit results."""
    detail = project_from(ctx).state.get_run(run_id)
    if as_json:
        render.json_out(detail)
    else:
        render.run_detail(detail)
