"""`towpath cdc run|status FILE`: change data capture from a `*.cdc.yaml`."""

from __future__ import annotations

from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import json_requested, output, project_from


@click.group("cdc")
def cli() -> None:
    """Capture a source table's changes into Iceberg tables and search indexes, exactly once.

    \b
    Example:
      towpath cdc run cdc/patients.cdc.yaml --until-caught-up
      towpath cdc status cdc/patients.cdc.yaml
    """


def _result(result: Any) -> None:
    how = "snapshot+stream" if result.snapshotted else "stream"
    render.table([{
        "job": result.name, "mode": how, "snapshot rows": f"{result.snapshot_rows:,}",
        "changes": f"{result.changes:,}", "batches": result.batches, "rows/s": f"{result.rows_per_second:,.0f}",
        "position": result.applied_position,
        "p99 lag": "-" if result.lag_seconds_p99 is None else f"{result.lag_seconds_p99:.2f}s",
        "caught up": "yes" if result.caught_up else "no",
    }], title=f"cdc {result.name}: {result.seconds:.1f}s")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--until-caught-up", is_flag=True,
              help="Stop once every change the source had committed at the start is applied.")
@click.option("--resnapshot", is_flag=True,
              help="Drop the stream, reload every target from a fresh consistent snapshot, then stream.")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), help="Stop after this long.")
@output(_result)
@click.pass_context
def run(ctx: click.Context, file: str, until_caught_up: bool, resnapshot: bool, max_seconds: float | None) -> Any:
    """Run the CDC job of FILE: a consistent snapshot first (when new), then the change stream.

    Without --until-caught-up or --max-seconds it runs until interrupted (Ctrl-C
    stops after the current batch is applied).

    \b
    Example:
      towpath cdc run cdc/patients.cdc.yaml --until-caught-up --json
    """
    import threading

    from towpath.cdc import load_cdc_spec, run_cdc

    spec = load_cdc_spec(file)
    project = project_from(ctx, near=file)
    stop = threading.Event()
    show = not json_requested(ctx) and render.err_console.is_terminal
    if not show:
        return run_cdc(spec, catalog=project.catalog, root=project.root, until_caught_up=until_caught_up,
                       resnapshot=resnapshot, max_seconds=max_seconds, stop=stop)
    from rich.status import Status

    with Status(f"cdc {spec.name}: starting", console=render.err_console) as status:
        def progress(report: Any) -> None:
            status.update(f"cdc {spec.name}: {report.changes:,} changes in {report.batches} batches, "
                          f"{report.rows_per_second:,.0f} rows/s, at {report.applied_position}")

        return run_cdc(spec, catalog=project.catalog, root=project.root, until_caught_up=until_caught_up,
                       resnapshot=resnapshot, max_seconds=max_seconds, stop=stop, progress=progress)


def _status(status: Any) -> None:
    lag_s = "-" if status.lag_seconds is None else f"{status.lag_seconds:.2f}s"
    render.table([
        {"field": "state", "value": status.state},
        {"field": "source", "value": status.source},
        {"field": "applied position", "value": status.applied_position},
        {"field": "source position", "value": status.source_position},
        {"field": "lag", "value": f"{'-' if status.lag_bytes is None else f'{status.lag_bytes:,} bytes'}, {lag_s}"},
        {"field": "rows/s", "value": f"{status.rows_per_second:,.0f}"},
        {"field": "changes", "value": f"{status.changes:,} (+{status.snapshot_rows:,} snapshot rows)"},
        {"field": "stream", "value": status.stream},
        *({"field": t.target, "value": t.position} for t in status.targets),
        *([{"field": "error", "value": status.error}] if status.error else []),
    ], ["field", "value"], title=f"cdc {status.name}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@output(_status)
@click.pass_context
def status(ctx: click.Context, file: str) -> Any:
    """Show the CDC job of FILE: lag (bytes and seconds), last applied position, rows/s, each target.

    \b
    Example:
      towpath cdc status cdc/patients.cdc.yaml --json
    """
    from towpath.cdc import cdc_status, load_cdc_spec

    spec = load_cdc_spec(file)
    project = project_from(ctx, near=file)
    return cdc_status(spec, catalog=project.catalog, root=project.root)
