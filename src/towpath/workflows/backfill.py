"""Backfills: run main for every date of a range, in parallel, resuming where a failed one stopped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Protocol

from towpath.errors import ParameterError, SpecError
from towpath.notify import Notifier, notify_failure
from towpath.status import Status
from towpath.workflows.context import DeferredMarks, Workspace
from towpath.workflows.marks import settle_marks
from towpath.workflows.params import parse_date, split_params
from towpath.workflows.results import BackfillResult, RunResult
from towpath.workflows.runner import run_workflow


class BackfillProgress(Protocol):
    """What a backfill reports as it goes (the CLI draws a Rich progress bar from it)."""

    def start(self, total: int, skipped: int) -> None: ...
    def advance(self, date: str, status: str) -> None: ...


def date_range(start: str, end: str) -> list[str]:
    first, last = parse_date(start, field="start"), parse_date(end, field="end")
    if last < first:
        raise ParameterError(f"--end {last} is before --start {first}", field="end")
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def run_backfill(
    project: Workspace,
    path: Path,
    *,
    start: str | None = None,
    end: str | None = None,
    parallel: int | None = None,
    force: bool = False,
    params: Mapping[str, str] | None = None,
    progress: BackfillProgress | None = None,
) -> BackfillResult:
    """Run main for each date in [start, end]; skip dates that already succeeded unless `force`.

    The main runs' `hwm` steps are collected and each mark is set once at the
    end, to the newest date that published with no failed date before it. Ctrl-C
    cancels the dates not started, records the backfill `interrupted` and re-raises
    (each running date records itself `interrupted` and drops its WAP branch).
    """
    from towpath.workflows.loader import load_workflow
    from towpath.workflows.spec import BackfillSpec

    spec = load_workflow(path, dict(project.config.params), cli_params=dict(params or {}), strict=False)
    if not isinstance(spec, BackfillSpec):
        raise SpecError("expected a workflow with `type: backfill`", file=path, field="type")
    first = start or (str(spec.start) if spec.start else None)
    last = end or (str(spec.end) if spec.end else None)
    if not first or not last:
        raise ParameterError("a backfill needs --start and --end (or `start`/`end` in the file)", file=path)
    workers = parallel or spec.parallel
    if workers < 1:
        raise ParameterError(f"--parallel must be at least 1, got {workers}")
    main = spec.workflow_path
    checked, inherited = split_params(path, spec.params, params)
    run_params = {**inherited, **checked}
    main_id = load_workflow(main, {}, strict=False).id
    dates = date_range(first, last)
    # Preflight of the whole workflow before any date runs: a mistake stops the backfill here, not at date 1.
    run_workflow(project, main, date=dates[0], params=checked, inherited=inherited, dry_run=True)
    done = set() if force else project.state.succeeded_dates(main_id)
    todo = [d for d in dates if d not in done]
    skipped = [d for d in dates if d in done]
    parent = project.state.start_run(spec.id, kind="backfill", params={**run_params, "start": first, "end": last})
    result = BackfillResult(spec.id, first, last, succeeded=[], failed={}, skipped=skipped, runs=[])
    if progress:
        progress.start(len(dates), len(skipped))

    deferred = DeferredMarks()

    def one(date: str) -> RunResult:
        try:
            run = run_workflow(project, main, date=date, params=checked, inherited=inherited, kind="main",
                               parent_run_id=parent, deferred_marks=deferred)
        except SpecError as exc:  # a problem only this date shows (its parameters differ): this date fails
            return RunResult(run_id="", workflow_id=main_id, execution_date=date, status=Status.FAILED,
                             duration_s=0.0, params=run_params, error=str(exc))
        assert isinstance(run, RunResult)
        return run

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backfill") as pool:
        futures = {pool.submit(one, date): date for date in todo}
        try:
            for future in as_completed(futures):
                date = futures[future]
                run = future.result()
                result.runs.append(run)
                if run.ok:
                    result.succeeded.append(date)
                else:
                    result.failed[date] = run.error or run.status
                if progress:
                    progress.advance(date, run.status)
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            project.state.finish_run(parent, Status.INTERRUPTED, error="interrupted (Ctrl-C)")
            raise
    result.succeeded.sort()
    result.runs.sort(key=lambda r: r.execution_date)
    result.hwm, result.hwm_kept = settle_marks(
        project.catalog, deferred.marks, published=result.succeeded, failed=result.failed,
    )
    error = None
    if result.failed:
        error = "; ".join(f"{d}: {e.splitlines()[0]}" for d, e in sorted(result.failed.items()))
        notify_failure(Notifier.for_project(project.root, project.config), {
            "workflow_id": spec.id, "kind": "backfill", "error": error, "run_id": parent,
            "failed_dates": sorted(result.failed),
        })
    project.state.finish_run(parent, result.status, error=error)
    return result


