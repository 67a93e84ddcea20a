"""`towpath worker ...`: the project's resident worker, which makes every `towpath` command start warm."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from towpath.cli.options import CliState, output
from towpath.errors import TowpathError


def _root(ctx: click.Context) -> Path:
    from towpath.worker import protocol

    given = ctx.find_root().ensure_object(CliState).project_dir
    start = Path(given) if given is not None else Path.cwd()
    root = protocol.find_root(start)
    if root is None:
        raise TowpathError(f"no towpath project (towpath.yaml) at or above {start.resolve()}")
    return root


def _show_status(status: dict[str, Any]) -> None:
    if not status["running"]:
        click.echo(f"no worker runs for {status['root']}")
        return
    started = dt.datetime.fromtimestamp(status["started_at"]).isoformat(timespec="seconds")
    click.echo(
        f"worker pid {status['pid']} on {status['host']} serves {status['root']}\n"
        f"  started {started} (warm in {status['warm_seconds']:.2f} s), "
        f"stops after {status['idle_seconds'] / 60:g} idle minutes\n"
        f"  {status['commands']} commands run, {status['busy']} running now"
        + (" (stopping)" if status.get("stopping") else "")
    )


def _show_stop(result: dict[str, Any]) -> None:
    click.echo(result["message"])


def _status_of(root: Path) -> dict[str, Any]:
    from towpath.worker import info

    facts = info(root)
    return {"root": str(root), "running": False} if facts is None else dict(facts, running=True, root=str(root))


@click.group("worker")
def cli() -> None:
    """Keep a warm towpath process for this project, so commands skip ~1 s of startup.

    \b
    `workflow run|daily|backfill` start it on demand; while it runs, every
    `towpath` command in the project runs in a fork of it, with your terminal,
    folder, environment, exit code and Ctrl-C. It stops after idle minutes, and
    refuses commands (they then run in-process) once towpath changes on disk.
    `--no-worker` or TOWPATH_WORKER=off runs a command in-process.

    \b
    Example:
      towpath worker start --idle 30
      towpath workflow run main.sch.yaml --date 2022-01-01
      towpath worker status
    """


@cli.command()
@click.option("--idle", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
              help="Stop after this many minutes without a command.")
@output(_show_status)
@click.pass_context
def start(ctx: click.Context, idle: float) -> dict[str, Any]:
    """Start the project's worker and wait until it listens (a running one is left as it is)."""
    from towpath.cli.launch import start_worker

    root = _root(ctx)
    if not _status_of(root)["running"] and not start_worker(root, idle_seconds=idle * 60, wait=60.0):
        raise TowpathError(f"the worker did not start within 60 s; see {root / '.towpath' / 'worker.log'}")
    return _status_of(root)


@cli.command()
@click.option("--now", is_flag=True, help="Interrupt running commands (SIGTERM) instead of letting them finish.")
@output(_show_stop)
@click.pass_context
def stop(ctx: click.Context, now: bool) -> dict[str, Any]:
    """Stop the project's worker once its running commands end (or at once, with --now)."""
    from towpath.worker import request

    root = _root(ctx)
    reply = request(root, {"op": "stop", "now": now})
    if reply is None:
        return {"root": str(root), "stopped": False, "message": f"no worker runs for {root}"}
    running = reply.get("running", 0)
    tail = f" after its {running} running commands" if running and not now else ""
    return {"root": str(root), "stopped": True, "running": running, "message": f"the worker of {root} stops{tail}"}


@cli.command()
@output(_show_status)
@click.pass_context
def status(ctx: click.Context) -> dict[str, Any]:
    """Show whether the project's worker runs, since when, and what it ran."""
    return _status_of(_root(ctx))
