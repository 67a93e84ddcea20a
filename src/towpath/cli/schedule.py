"""`towpath schedule run`: the local scheduler loop."""

from __future__ import annotations

import click

from towpath.cli import render
from towpath.cli.options import project_from


@click.group("schedule")
def cli() -> None:
    """Fire daily workflows when their cron is due or their trigger table's high-water mark advances."""


@cli.command()
@click.option("--once", is_flag=True, help="Check once, fire what is due, and exit.")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between checks.")
@click.pass_context
def run(ctx: click.Context, once: bool, interval: float) -> None:
    """Run the scheduler over every daily `*.sch.yaml` of the project."""
    from towpath.workflows import run_scheduler

    project = project_from(ctx)
    results = run_scheduler(project, once=once, interval=interval, on_result=render.firing)
    if once and not results:
        render.console.print("nothing is due")
