"""`towpath pipeline run module:factory`: run a pipeline with live progress, then print its stats."""

from __future__ import annotations

from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import json_requested, output

_COLUMNS = ["processor", "status", "rows_in", "rows_out", "rows_error", "busy_s", "rows/s"]
"""The stats table (the JSON output has every counter: batches, bytes, workers, retries, wall time)."""


def _stats(stats: Any) -> None:
    render.table(_rows(stats), _COLUMNS, title=f"pipeline {stats.name}: {stats.rows_read} rows read, "
                 f"{stats.rows_written} written, {stats.rows_error} errors in {stats.wall_seconds:.2f}s")


@click.group(name="pipeline")
def cli() -> None:
    """Run concurrent ETL pipelines built from processors in stages."""


@cli.command()
@click.argument("target")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Passed to the factory as a keyword argument (string); repeatable.")
@click.option("--progress/--no-progress", default=True, help="Show live progress while running.")
@output(_stats)
@click.pass_context
def run(ctx: click.Context, target: str, params: tuple[str, ...], progress: bool) -> Any:
    """Run the pipeline that TARGET (`module:factory` or `path/file.py:factory`) builds."""
    from towpath.config import parse_assignments
    from towpath.pipeline.loader import load_pipeline  # lazy: keeps `towpath --help` fast

    pipeline = load_pipeline(target, parse_assignments(params))
    if progress and not json_requested(ctx) and render.err_console.is_terminal:
        return _run_with_live(pipeline)
    return pipeline.run()


def _rows(stats: Any) -> list[dict[str, Any]]:
    return [{
        "processor": s.name, "kind": s.kind, "status": s.status, "workers": s.workers, "rows_in": s.rows_in,
        "rows_out": s.rows_out, "rows_error": s.rows_error, "batches_out": s.batches_out,
        "busy_s": f"{s.busy_seconds:.2f}", "wall_s": f"{s.wall_seconds:.2f}", "rows/s": f"{s.rows_per_second:,.0f}",
    } for s in stats.processors]


def _run_with_live(pipeline: Any) -> Any:
    """A progress bar when the sources know their size, else a live table of processors."""
    from rich.live import Live
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                   TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=render.err_console)
    task = bar.add_task(pipeline.name, total=None, rate="")

    def view(stats: Any) -> Any:
        if stats.source_bytes_total:
            bar.update(task, total=stats.source_bytes_total, completed=stats.source_bytes_read or 0,
                       rate=f"{stats.rows_per_second:,.0f} rows/s")
            return bar
        out = Table(title=f"{pipeline.name}: {stats.wall_seconds:.1f}s", header_style="bold")
        for column in ("processor", "status", "rows_in", "rows_out", "rows_error", "rows/s"):
            out.add_column(column)
        for row in _rows(stats):
            out.add_row(*(str(row[c]) for c in ("processor", "status", "rows_in", "rows_out", "rows_error", "rows/s")))
        return out

    with Live(console=render.err_console, refresh_per_second=4, transient=True) as live:
        return pipeline.run(progress=lambda stats: live.update(view(stats)), progress_interval=0.25)
