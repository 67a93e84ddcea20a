"""`towpath stream run|status|reset FILE`: Kafka topics into the lake, exactly-once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import json_requested, output, project_from


@click.group(name="stream")
def cli() -> None:
    """Stream Kafka topics into Iceberg tables: one commit per window, offsets kept in the table."""


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--timeout", default=None, metavar="DURATION",
              help="Stop cleanly after this long: 90s, 30m, 2h (default: the spec's `timeout`, else never).")
@click.option("--until-caught-up", is_flag=True,
              help="Stop once every owned partition has been read to its end (the batch mode of a daily job).")
@click.option("--worker", default="1/1", show_default=True, metavar="I/N",
              help="Own the I-th of N shares of the partitions; run N processes to scale out.")
@output(render.stream_stats)
@click.pass_context
def run(ctx: click.Context, file: str, timeout: str | None, until_caught_up: bool, worker: str) -> Any:
    """Consume FILE's topics into its table, one Iceberg commit per window; Ctrl-C/SIGTERM commit and exit 0.

    Example:

        towpath stream run orders.stream.yaml --until-caught-up
    """
    from towpath.config.params import parse_duration
    from towpath.streaming import RunOptions, StreamJob, Worker, load_stream_spec

    project = project_from(ctx, near=file)
    spec = load_stream_spec(file)
    notifier = None
    if any(rule.notify == "project" for rule in spec.alerts):
        from towpath.notify import Notifier

        notifier = Notifier.for_project(project.root, project.config)
    job = StreamJob(spec, Path(file).resolve().parent, project.catalog, project.state, notifier=notifier)
    options = RunOptions(
        timeout_s=parse_duration(timeout).total_seconds() if timeout else None,
        until_caught_up=until_caught_up, worker=Worker.parse(worker),
    )
    if json_requested(ctx) or not render.err_console.is_terminal:
        return job.run(options)
    from rich.live import Live

    with Live(console=render.err_console, refresh_per_second=4, transient=True) as live:
        return job.run(RunOptions(options.timeout_s, options.until_caught_up, options.worker,
                                  progress=lambda stats: live.update(render.stream_line(stats))))


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@output(render.stream_status)
@click.pass_context
def status(ctx: click.Context, file: str) -> Any:
    """Per partition: committed offset, end offset, lag, last commit, rows/s, dead letters; running workers.

    Example:

        towpath stream status orders.stream.yaml --json
    """
    from towpath.streaming import load_stream_spec, stream_status

    project = project_from(ctx, near=file)
    return stream_status(load_stream_spec(file), Path(file).resolve().parent, project.catalog, project.state)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--to", "to", required=True, metavar="earliest|latest|TIMESTAMP",
              help="Where every partition restarts: the earliest or latest offset, or the first at an ISO time.")
@output(render.stream_reset)
@click.pass_context
def reset(ctx: click.Context, file: str, to: str) -> Any:
    """Move FILE's recorded offsets (refused while a worker runs); rows already in the table stay.

    Example:

        towpath stream reset orders.stream.yaml --to 2024-01-02T00:00:00Z
    """
    from towpath.streaming import load_stream_spec, reset_stream

    project = project_from(ctx, near=file)
    return reset_stream(load_stream_spec(file), Path(file).resolve().parent, project.catalog, project.state, to)
