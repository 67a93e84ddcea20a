"""Rendering shared by every command: Rich tables, key/value panels and JSON.

Commands build plain data (dicts, lists, dataclasses) and hand it here; no
command prints on its own except through these helpers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Self

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, dates, decimals, bytes and Arrow scalars as JSON-friendly values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def json_out(value: Any) -> None:
    """Print `value` as JSON on stdout (for `--json`)."""
    print(json.dumps(to_jsonable(value), indent=2, default=str))


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None, *, title: str | None = None) -> None:
    """Print rows as a Rich table; columns default to the first row's keys."""
    from rich.table import Table

    rows = list(rows)
    columns = list(columns or (rows[0].keys() if rows else []))
    out = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(_cell(row.get(c)) for c in columns))
    console.print(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def arrow_table(data: Any, *, title: str | None = None, limit: int = 20) -> None:
    """Print the first `limit` rows of an Arrow table."""
    rows = data.slice(0, limit).to_pylist()
    table(rows, data.column_names, title=title)


def key_values(pairs: Mapping[str, Any], *, title: str | None = None) -> None:
    """Print a two-column key/value listing."""
    from rich.table import Table

    out = Table(title=title, show_header=False, box=None, pad_edge=False)
    out.add_column(style="bold cyan")
    out.add_column()
    for key, value in pairs.items():
        out.add_row(key, "" if value is None else str(value))
    console.print(out)


def success(message: str) -> None:
    console.print(f"[green]✓[/green] {message}")


def warning(message: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {message}")


_STATUS_STYLE = {"success": "green", "failed": "red", "audit_failed": "red", "skipped": "dim", "running": "yellow"}


def status(value: str) -> str:
    style = _STATUS_STYLE.get(value, "white")
    return f"[{style}]{value}[/{style}]"


def run_result(result: Any) -> None:
    """A workflow run: one line per step, audits, warnings and the error."""
    from rich.table import Table

    out = Table(title=f"{result.workflow_id} · {result.execution_date} · run {result.run_id}", header_style="bold")
    for column in ("step", "type", "status", "rows", "time"):
        out.add_column(column, justify="right" if column in ("rows", "time") else "left")
    for job in result.jobs:
        rows = "" if job.rows_written is None else f"{job.rows_written:,}"
        out.add_row(job.job_id, job.job_type, status(job.status), rows, f"{job.duration_s:.2f}s")
    console.print(out)
    for job in result.jobs:
        for audit in job.audits:
            mark = "[green]✓[/green]" if audit.passed else ("[red]✗[/red]" if audit.blocking else "[yellow]![/yellow]")
            console.print(f"  {mark} {audit.message}")
    for text in result.warnings:
        warning(text)
    if result.error:
        err_console.print(f"[red]error:[/red] {result.error}")
    else:
        success(f"{result.workflow_id} {result.execution_date} published in {result.duration_s:.2f}s")


def dry_run(plan: Any) -> None:
    """The resolved steps, parameters and SQL of a run that was not executed."""
    from rich.syntax import Syntax

    key_values(plan.params, title=f"{plan.workflow_id} · {plan.execution_date} · parameters")
    for step in plan.steps:
        after = f" (after {', '.join(step.depends_on)})" if step.depends_on else ""
        console.rule(f"{step.step_id} · {step.step_type}{after}")
        details = {k: v for k, v in step.details.items() if k not in ("id", "type", "depends_on")}
        if details:
            key_values(details)
        if step.sql:
            console.print(Syntax(step.sql, "sql", line_numbers=True))


def daily_result(result: Any) -> None:
    dates = ", ".join(r.execution_date for r in result.runs)
    console.print(f"daily {result.workflow_id} for {result.today}: {status(result.status)} (dates: {dates})")
    for table, mark in result.hwm.items():
        success(f"high-water mark of {table} -> {mark}")
    if result.error:
        err_console.print(f"[red]error:[/red] {result.error}")


def backfill_result(result: Any) -> None:
    console.print(
        f"backfill {result.workflow_id} {result.start}..{result.end}: {status(result.status)} — "
        f"{len(result.succeeded)} succeeded, {len(result.failed)} failed, {len(result.skipped)} skipped (already done)"
    )
    for date, error in sorted(result.failed.items()):
        err_console.print(f"  [red]✗[/red] {date}: {error}")
    if result.failed:
        err_console.print("rerun the same command to retry only the failed dates")


class BackfillBar:
    """A Rich progress bar of dates done/failed, fed by the backfill's progress callbacks.

    The bar appears only once the backfill has validated its dates and starts, so a
    usage error prints alone.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.failed = 0
        self.progress: Any = None

    def __enter__(self) -> Self:
        return self

    def start(self, total: int, skipped: int) -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]backfill"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=err_console,
        )
        self.progress.start()
        self.task = self.progress.add_task("backfill", total=total, completed=skipped, detail=f"{skipped} skipped")

    def advance(self, date: str, state: str) -> None:
        if self.progress is not None:
            self.failed += state != "success"
            self.progress.update(self.task, advance=1, detail=f"last {date} {state} · {self.failed} failed")

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def runs_table(runs: Sequence[Any]) -> None:
    table(
        [
            {
                "run": r.run_id, "workflow": r.workflow_id, "kind": r.kind, "date": r.execution_date,
                "status": r.status, "started": str(r.started_at)[:19],
                "time": "" if r.duration_s is None else f"{r.duration_s:.2f}s",
            }
            for r in runs
        ],
        title="runs",
    )


def run_detail(detail: Any) -> None:
    run = detail.run
    key_values(
        {"run": run.run_id, "workflow": run.workflow_id, "kind": run.kind, "status": run.status,
         "execution date": run.execution_date, "started": run.started_at, "finished": run.finished_at,
         "duration": None if run.duration_s is None else f"{run.duration_s:.2f}s", "parent": run.parent_run_id,
         "error": run.error},
        title=f"run {run.run_id}",
    )
    table(
        [
            {"job": j.job_id, "type": j.job_type, "status": j.status,
             "rows": j.rows_written, "snapshots": ", ".join(f"{t}@{s}" for t, s in (j.snapshots or {}).items()),
             "time": "" if j.duration_s is None else f"{j.duration_s:.2f}s", "error": (j.error or "").splitlines()[0] if j.error else ""}
            for j in detail.jobs
        ],
        title="jobs",
    )
    if detail.audits:
        table(
            [{"audit": a.name, "table": a.table, "blocking": a.blocking, "passed": a.passed,
              "failing rows": a.failing_rows, "message": a.message} for a in detail.audits],
            title="audits",
        )


def firing(fired: Any, result: Any, error: str | None) -> None:
    state = "failed" if error else "success"
    console.print(f"fired {fired.workflow_id} ({fired.reason}): {status(state)}")
    if error:
        err_console.print(f"  [red]error:[/red] {error}")
