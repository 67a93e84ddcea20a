"""Rendering shared by every command: Rich tables, key/value panels and JSON.

Commands build plain data (dicts, lists, dataclasses) and hand it here; no
command prints on its own except through these helpers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from rich.console import Console
from rich.markup import escape

from towpath.errors import OutputPathError
from towpath.jsonable import to_jsonable
from towpath.status import Status

if TYPE_CHECKING:
    from towpath.workflows import BackfillResult, DailyResult, DryRun, RunResult

console = Console()
err_console = Console(stderr=True)


def warm_up(_root: Path) -> None:
    """Render a table and styled text once, to nothing: the worker's forks then print their first
    table without Rich's one-time set-up (~9 ms of a command's output)."""
    from rich.table import Table

    sink = Console(file=open(os.devnull, "w"), width=80, force_terminal=True)  # noqa: SIM115 - closed below
    table = Table("step", "status", header_style="bold")
    table.add_row("write", "[green]success[/green]")
    sink.print(table)
    sink.print("[bold]ok[/bold] · [red]✗[/red] 1,000 rows", soft_wrap=True)
    sink.file.close()


def json_out(value: Any) -> None:
    """Print `value` as JSON on stdout (for `--json`)."""
    print(json.dumps(to_jsonable(value), indent=2, default=str))


ID_COLUMNS = frozenset({
    "run", "run_id", "parent", "snapshot", "snapshot_id", "snapshots", "table", "job", "branch",
    "workflow", "status", "run status", "date", "file", "env", "commit",
})
"""Columns never wrapped, folded or cut: ids a user copies into the next command, and one-word
values (statuses, dates, workflow names) that read wrong when split ("audit_fail" / "ed")."""

_WORD_CAP = 10
"""Other columns may wrap down to this width (or their longest word, if shorter)."""


def write_file(path: Path | str, text: str) -> Path:
    """Write a command's output file (`-o FILE`); an unwritable path is a `TowpathError`, not a traceback."""
    target = Path(path)
    try:
        target.write_text(text)
    except OSError as exc:
        raise OutputPathError(target, exc) from None
    return target


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None, *, title: str | None = None) -> None:
    """Print rows as a table that keeps ids whole at any terminal width; columns default to the first row's keys.

    Each column has a minimum width: its longest id for id columns, else its
    longest word up to `_WORD_CAP`. The boxed table is used when the minimums
    fit the terminal, else a borderless one; failing both (80 columns, two
    19-digit snapshot ids and a timestamp), each row becomes a block of
    `column  value` lines.
    """
    from rich.measure import Measurement

    rows = list(rows)
    columns = list(columns or (rows[0].keys() if rows else []))
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    texts = [[column, *(r[i] for r in cells)] for i, column in enumerate(columns)]
    mins = [_min_width(column, values) for column, values in zip(columns, texts, strict=True)]
    maxes = [max(len(line) for text in values for line in text.splitlines() or [""]) for values in texts]
    for compact in (False, True):
        out = _frame(title, columns, compact=compact)
        room = console.width - (Measurement.get(console, console.options, out).maximum - len(columns))
        if sum(mins) <= room:
            for column, width in zip(out.columns, _share(mins, maxes, room), strict=True):
                column.width = width
            for row_cells in cells:
                out.add_row(*(escape(c) for c in row_cells))
            console.print(out)
            return
    if title:
        console.print(f"[bold]{escape(title)}[/bold]", soft_wrap=True)
    for n, row_cells in enumerate(cells):
        if n:
            console.print()
        key_values(dict(zip(columns, row_cells, strict=True)))


def _frame(title: str | None, columns: Sequence[str], *, compact: bool) -> Any:
    """An empty table of one-character columns (measured to learn what borders and padding cost)."""
    from rich import box
    from rich.table import Table

    style: dict[str, Any] = {"box": box.SIMPLE_HEAD, "padding": (0, 0), "show_edge": False} if compact else {}
    out = Table(title=title, header_style="bold", **style)
    for column in columns:
        out.add_column(column, width=1, no_wrap=column in ID_COLUMNS, overflow="fold")
    return out


def _min_width(column: str, values: Sequence[str]) -> int:
    words = [len(w) for text in values for w in text.split()] or [len(column)]
    return max(words) if column in ID_COLUMNS else min(max(words), _WORD_CAP)


def _share(mins: Sequence[int], maxes: Sequence[int], room: int) -> list[int]:
    """Column widths within `room`: every column its minimum, the rest shared by how much more each wants."""
    if sum(maxes) <= room:
        return list(maxes)
    widths, spare = list(mins), room - sum(mins)
    wants = [max(hi - lo, 0) for lo, hi in zip(mins, maxes, strict=True)]
    total = sum(wants) or 1
    for i, want in enumerate(wants):
        widths[i] += min(want, spare * want // total)
    for i in sorted(range(len(widths)), key=lambda i: wants[i] - (widths[i] - mins[i]), reverse=True):
        if room - sum(widths) <= 0:
            break
        widths[i] += min(room - sum(widths), maxes[i] - widths[i]) if maxes[i] > widths[i] else 0
    return widths


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
    out.add_column(style="bold cyan", no_wrap=True)
    out.add_column(overflow="fold")
    for key, value in pairs.items():
        out.add_row(escape(key), "" if value is None else escape(str(value)))
    console.print(out)


def success(message: str) -> None:
    """A done line on stdout, never wrapped (paths and ids stay copyable)."""
    console.print(f"[green]✓[/green] {escape(message)}", soft_wrap=True)


def warning(message: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True, highlight=False)


def error(message: str) -> None:
    """An error line on stderr, never wrapped."""
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)


_STATUS_STYLE = {Status.SUCCESS: "green", Status.FAILED: "red", Status.AUDIT_FAILED: "red", Status.SKIPPED: "dim",
                 Status.RUNNING: "yellow", Status.INTERRUPTED: "magenta", Status.KILLED: "red"}


def status(value: str) -> str:
    style = _STATUS_STYLE.get(Status(value), "white") if value in Status._value2member_map_ else "white"
    return f"[{style}]{value}[/{style}]"


def workflow_run(result: RunResult | DryRun) -> None:
    """`workflow run`: the plan of a dry run, else the run's steps."""
    from towpath.workflows import DryRun

    if isinstance(result, DryRun):
        dry_run(result)
    else:
        run_result(result)


def run_result(result: RunResult) -> None:
    """A workflow run: one line per step, audits, warnings and the error."""
    from rich.table import Table

    console.print(f"[bold]{result.workflow_id} · {result.execution_date} · run {result.run_id}[/bold]", soft_wrap=True)
    out = Table(header_style="bold")
    for column in ("step", "type", "status", "rows", "time"):
        out.add_column(column, justify="right" if column in ("rows", "time") else "left", no_wrap=column == "step")
    for job in result.jobs:
        rows = "" if job.rows_written is None else f"{job.rows_written:,}"
        out.add_row(job.job_id, job.job_type, status(job.status), rows, f"{job.duration_s:.2f}s")
    console.print(out)
    for job in result.jobs:
        for audit in job.audits:
            mark = "[green]✓[/green]" if audit.passed else ("[red]✗[/red]" if audit.blocking else "[yellow]![/yellow]")
            console.print(f"  {mark} {escape(audit.message)}", soft_wrap=True)
    for text in result.warnings:
        warning(text)
    if result.error:
        error(result.error)
    else:
        done = "published" if result.published else "succeeded"
        success(f"{result.workflow_id} {result.execution_date} {done} in {result.duration_s:.2f}s")


def dry_run(plan: DryRun) -> None:
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


def daily_result(result: DailyResult) -> None:
    for run in result.runs:
        run_result(run)
    dates = ", ".join(r.execution_date for r in result.runs)
    console.print(f"daily {result.workflow_id} for {result.today}: {status(result.status)} (dates: {dates})")
    for table, mark in result.hwm.items():
        success(f"high-water mark of {table} -> {mark}")
    if result.error:
        error(result.error)


def backfill_result(result: BackfillResult) -> None:
    console.print(
        f"backfill {result.workflow_id} {result.start}..{result.end}: {status(result.status)} — "
        f"{len(result.succeeded)} succeeded, {len(result.failed)} failed, {len(result.skipped)} skipped (already done)"
    )
    for date, error in sorted(result.failed.items()):
        err_console.print(f"  [red]✗[/red] {date}: {error}", soft_wrap=True, highlight=False)
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
                "status": r.status, "started": r.started_at[5:16].replace("T", " "),
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
         "process": f"{run.pid} on {run.host}" if run.pid else None, "error": run.error},
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
            [{"audit": a.result.name, "job": a.job_id, "attempt": a.attempt, "table": a.result.table,
              "blocking": a.result.blocking, "passed": a.result.passed, "failing rows": a.result.failing_rows,
              "message": a.result.message} for a in detail.audits],
            title="audits",
        )


def firing(outcome: Any) -> None:
    """`schedule run`: one line per finished attempt of a firing."""
    state = "success" if outcome.ok else "interrupted" if outcome.cancelled else "failed"
    attempt = f", attempt {outcome.attempt}" if outcome.attempt > 1 else ""
    console.print(f"fired {outcome.workflow_id} for {outcome.today}{attempt} ({outcome.reason}): {status(state)}")
    if outcome.error:
        err_console.print(f"  [red]error:[/red] {outcome.error}", soft_wrap=True, highlight=False)
    if outcome.retry_in_s is not None:
        console.print(f"  retrying in {outcome.retry_in_s:g} s")


# -- tables ---------------------------------------------------------------------------------------


def tables(summaries: Sequence[Mapping[str, Any]]) -> None:
    """`table list`: one row per table."""
    table(summaries, ["table", "rows", "snapshot", "owner", "hwm"], title="Tables")


def table_detail(desc: Any) -> None:
    """`table show`: settings, state and the schema of one table."""
    snapshot = desc.current_snapshot
    key_values(
        {
            "table": desc.identifier,
            "comment": desc.comment,
            "location": desc.location,
            "partitioned by": ", ".join(desc.partition_spec) or "(unpartitioned)",
            "owner": desc.metadata.owner,
            "tags": ", ".join(desc.metadata.tags),
            "lifetime": f"{desc.metadata.lifetime_days} days" if desc.metadata.lifetime_days else None,
            "rows": desc.row_count,
            "data files": desc.data_files,
            "snapshot": None if snapshot is None else
            f"{snapshot.snapshot_id} ({snapshot.operation}, {snapshot.timestamp:%Y-%m-%d %H:%M:%S} UTC)",
            "branches": ", ".join(f"{name}={sid}" for name, sid in desc.branches.items()) or None,
            "high-water mark": desc.hwm.isoformat() if desc.hwm else None,
        },
        title=desc.identifier,
    )
    table(
        [
            {"column": c.name, "type": c.type, "required": "yes" if c.required else "", "kind": c.column_type,
             "comment": c.doc}
            for c in desc.columns
        ],
        ["column", "type", "required", "kind", "comment"],
        title="Schema",
    )


def history(snapshots: Sequence[Any]) -> None:
    """`table history`: snapshots, newest first."""
    table(
        [
            {"snapshot": s.snapshot_id, "parent": s.parent_id, "committed (UTC)": s.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
             "operation": s.operation, "rows": s.summary.get("total-records"), "refs": ", ".join(s.refs),
             "current": "*" if s.is_current else ""}
            for s in snapshots
        ],
        ["snapshot", "parent", "committed (UTC)", "operation", "rows", "refs", "current"],
        title="Snapshots, newest first",
    )


def expired(result: Mapping[str, Any]) -> None:
    success(f"{result['table']}: expired {len(result['expired'])} snapshot(s)")


def compacted(result: Any) -> None:
    """`table compact`: files before/after per partition rewritten, snapshots expired."""
    if result.partitions:
        table(
            [{"partition": p.partition or "(unpartitioned)", "files before": p.files_before,
              "files after": p.files_after, "rows": p.rows} for p in result.partitions],
            ["partition", "files before", "files after", "rows"], title=f"Compacted {result.table}",
        )
    else:
        console.print(f"{result.table}: no partition has small files to merge")
    success(f"{result.table}: {result.files_removed} file(s) rewritten into {result.files_added}; "
            f"expired {len(result.expired)} snapshot(s)")


def rolled_back(done: Any) -> None:
    """`table rollback`: where main is now, and where the high-water mark went."""
    success(f"main is now at snapshot {done.snapshot.snapshot_id}")
    if done.hwm_after != done.hwm_before:
        success(f"high-water mark moved back to {done.hwm_after.isoformat() if done.hwm_after else '(not set)'}")


def hwm(result: Mapping[str, Any]) -> None:
    mark = result["hwm"]
    if "previous" in result:
        success(f"{result['table']}: high-water mark set to {mark.isoformat()}")
        return
    key_values({"table": result["table"], "high-water mark": mark.isoformat() if mark else "(not set)"})


def wap_branches(result: Mapping[str, Any]) -> None:
    """`table branches`: one row per WAP branch with its run, age and why it exists (or what was dropped)."""
    name = result["table"]
    if "dropped" in result:
        dropped = result["dropped"]
        success(f"{name}: dropped {len(dropped)} branch(es){': ' + ', '.join(dropped) if dropped else ''}")
        return
    if not result["branches"]:
        console.print(f"{name} has no branches besides main")
        return
    table(
        [
            {"branch": b.name, "run": b.run_id, "run status": b.run_status, "attempt": b.attempt,
             "age": _age(b.age_s), "reason": b.reason}
            for b in result["branches"]
        ],
        ["branch", "run", "run status", "attempt", "age", "reason"],
        title=f"Branches of {name}",
    )


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def gc_result(result: Any) -> None:
    """`table gc`: the orphaned files removed (or, with --dry-run, that would be)."""
    for path in result.orphans:
        console.print(f"  {path}", soft_wrap=True, highlight=False)
    success(
        f"{result.table}: {'removed' if result.removed else 'would remove'} {len(result.orphans)} orphaned file(s); "
        f"kept {result.referenced} referenced and {result.too_new} too new to be sure"
    )


# -- streams -----------------------------------------------------------------------------------


def stream_line(stats: Any) -> str:
    """The live status line of `stream run`."""
    return (f"{stats.stream} [{stats.worker}]: {stats.messages:,} msgs, {stats.rate:,.0f} msgs/s, "
            f"lag {stats.lag:,}, {stats.windows} window(s), {stats.dead_letters:,} dead letter(s)")


def stream_stats(stats: Any) -> None:
    success(f"{stats.stream} [{stats.worker}] stopped ({stats.stopped}): {stats.messages:,} messages in "
            f"{stats.windows} window(s), {stats.rows:,} rows, {stats.dead_letters:,} dead letter(s), "
            f"{stats.alerts_fired} alert(s) in {stats.elapsed_s:.1f}s")


def stream_status(status: Any) -> None:
    table(
        [{"topic": p.topic, "partition": p.partition, "committed": "-" if p.committed is None else p.committed,
          "end": p.end, "lag": p.lag, "last commit": _since(p.last_commit),
          "rows/s": "-" if p.rows_per_s is None else f"{p.rows_per_s:,.0f}", "dead letters": p.dead_letters}
         for p in status.partitions],
        ["topic", "partition", "committed", "end", "lag", "last commit", "rows/s", "dead letters"],
        title=f"stream {status.stream} -> {status.table}",
    )
    workers = ", ".join(f"pid {r.pid} on {r.host}" for r in status.workers) or "none"
    console.print(f"total lag {status.lag:,}; running workers: {workers}", highlight=False)


def _since(stamp: str | None) -> str:
    """An ISO time as an age (`4.2m ago`): the column stays narrow at 80 columns (--json keeps the time)."""
    if stamp is None:
        return "-"

    return f"{_age((dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(stamp)).total_seconds())} ago"


def stream_reset(result: Any) -> None:
    for key, offset in sorted(result.after.items()):
        console.print(f"  {key}: {result.before.get(key, '-')} -> {offset}", highlight=False)
    success(f"stream {result.stream}: offsets reset for {len(result.after)} partition(s)")


# -- projects, mocks, samples ---------------------------------------------------------------------


def project_created(result: Mapping[str, Any]) -> None:
    success(f"created {result['config']}")


def project_settings(info: Mapping[str, Any]) -> None:
    key_values(info, title=str(info.get("name") or info["root"]))


def project_problems(report: Mapping[str, Any]) -> None:
    """`project validate`: every problem as file:line: message on stderr, or one line that all is valid."""
    problems = report["problems"]
    if not problems:
        success("every workflow, SQL script and mock is valid")
        return
    for problem in problems:
        err_console.print(f"[red]✗[/red] {escape(str(problem))}", highlight=False, soft_wrap=True)
    err_console.print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found", highlight=False)


def mock_generated(result: Mapping[str, Any]) -> None:
    if "path" in result:
        success(f"wrote {result['path']}")
    else:
        print(result["mock"], end="")


def mock_reports(reports: Sequence[Any]) -> None:
    """`mock validate`: one line per valid file, one line per problem of the others."""
    for report in reports:
        if report.ok:
            success(f"{report.path}: matches {report.table}")
        else:
            for line in report.lines():
                err_console.print(f"[red]✗[/red] {escape(line)}", highlight=False, soft_wrap=True)


def recipes(rows: Sequence[Mapping[str, Any]]) -> None:
    """`sample recipes`: what each recipe generates, and what a non-runnable one needs."""
    table([{**r, "runnable": "yes" if r["runnable"] else f"no: needs {r['needs']}"} for r in rows],
          ["recipe", "summary", "engine", "runnable"], title="Recipes")


def tests_ran(run: Any) -> None:
    """`project test`: pytest printed its own report; nothing to add."""
