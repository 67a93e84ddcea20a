"""`towpath schedule run|status|export`: the project's scheduler service, and its schedules as data."""

from __future__ import annotations

import os
import signal
from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import env_option, output, project_from


@click.group("schedule")
def cli() -> None:
    """Fire daily workflows when their cron is due or their trigger table's high-water mark advances."""


@cli.command()
@click.option("--once", is_flag=True, help="Check once, fire what is due (with its retries), and exit.")
@click.option("--interval", default=30.0, show_default=True, type=click.FloatRange(min=0.05),
              help="Seconds between checks.")
@click.option("--catchup", type=click.Choice(["all", "latest", "none"]), default="latest", show_default=True,
              help="Cron slots missed while no scheduler ran: fire all of them, the newest once, or none.")
@click.option("--max-concurrent", default=1, show_default=True, type=click.IntRange(min=1),
              help="Firings running at the same time (never two of one workflow).")
@click.option("--retries", default=0, show_default=True, type=click.IntRange(min=0),
              help="Extra attempts of a failed firing.")
@click.option("--retry-delay", default=60.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds before the first retry; doubled for each next one (at most an hour).")
@click.option("--on-stop", type=click.Choice(["finish", "cancel"]), default="finish", show_default=True,
              help="On SIGTERM, let running firings finish or interrupt them (a second SIGTERM interrupts).")
@click.option("--metrics-port", type=click.IntRange(min=0, max=65535), default=None,
              help="Serve Prometheus metrics on this port (/metrics).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address the metrics bind to.")
@env_option
@click.pass_context
def run(ctx: click.Context, once: bool, interval: float, catchup: str, max_concurrent: int, retries: int,
        retry_delay: float, on_stop: str, metrics_port: int | None, metrics_host: str) -> None:
    """Run the scheduler over every daily `*.sch.yaml` of the project.

    One scheduler per project: a second one refuses and names the running one's
    pid and host. Each firing runs in its own process; Ctrl-C interrupts them.

    \b
    Example:
      towpath schedule run --max-concurrent 2 --retries 3 --metrics-port 9464
      towpath schedule run --once --catchup all
      towpath schedule run --env feature_x    # the environment's schedules, one scheduler per environment
    """
    from towpath.project import Project
    from towpath.workflows import SchedulerOptions, SchedulerService

    project = project_from(ctx)
    options = SchedulerOptions(
        interval=interval, catchup=catchup, max_concurrent=max_concurrent,  # type: ignore[arg-type]
        retries=retries, retry_delay=retry_delay, on_stop=on_stop,  # type: ignore[arg-type]
        metrics_port=metrics_port, metrics_host=metrics_host,
    )
    root = project.root
    service = SchedulerService(project, lambda: Project(root, env=project.env or "main"), options, on_outcome=render.firing)
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop(cancel=True))
    outcomes = service.run(once=once)
    if once and not outcomes:
        render.console.print("nothing is due")
    if once and any(not o.ok and o.retry_in_s is None for o in outcomes):
        raise click.exceptions.Exit(1)


def _show_status(status: dict[str, Any]) -> None:
    if status["running"]:
        render.console.print(f"the scheduler runs as pid {status['pid']} on {status['host']} since {status['since']}")
    else:
        render.console.print("no scheduler runs for this project")


@cli.command()
@env_option
@output(_show_status)
@click.pass_context
def status(ctx: click.Context) -> dict[str, Any]:
    """Show whether the project's scheduler runs, and where."""
    from towpath.workflows.scheduler_service import lease_holder

    lease = lease_holder(project_from(ctx))
    if lease is None:
        return {"running": False}
    return {"running": True, "pid": lease.pid, "host": lease.host, "since": lease.acquired_at,
            "heartbeat_at": lease.heartbeat_at}


def _show_export(schedules: list[dict[str, Any]]) -> None:
    rows = [
        {"workflow": s["id"], "type": s["type"],
         "when": s.get("schedule") or (f"{s['start'] or '?'} to {s['end'] or '?'}" if s["type"] == "backfill" else ""),
         "trigger": (s.get("trigger") or {}).get("hwm_of", ""), "file": os.path.relpath(s["file"])}
        for s in schedules
    ]
    if rows:
        render.table(rows, ["workflow", "type", "when", "trigger", "file"], title="Schedules")
    else:
        render.console.print("no daily or backfill workflow in this project")


@cli.command()
@output(_show_export)
@click.pass_context
def export(ctx: click.Context) -> list[dict[str, Any]]:
    """List every daily and backfill workflow as data, for an orchestrator (the Airflow DAG factory).

    Each file is read exactly as `schedule run` reads it; a broken file is an
    error at its file:line and nothing is exported.

    \b
    Example:
      towpath schedule export --json
    """
    from towpath.workflows.scheduler import export_schedules

    return export_schedules(project_from(ctx))
