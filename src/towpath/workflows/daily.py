"""Daily workflows: run main for today and `lookback_days` earlier days, then advance high-water marks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from towpath.catalog import parse_hwm
from towpath.errors import SpecError
from towpath.notify import Notifier, notify_failure
from towpath.status import Status
from towpath.workflows.context import DeferredMarks, Workspace
from towpath.workflows.marks import settle_marks
from towpath.workflows.params import parse_date, split_params, today_in
from towpath.workflows.results import DailyResult, RunResult
from towpath.workflows.runner import run_workflow


def load_daily(project: Workspace, path: Path, params: Mapping[str, str] | None = None) -> Any:
    from towpath.workflows.loader import load_workflow
    from towpath.workflows.spec import DailySpec

    spec = load_workflow(path, dict(project.config.params), cli_params=dict(params or {}), strict=False)
    if not isinstance(spec, DailySpec):
        raise SpecError("expected a workflow with `type: daily`", file=path, field="type")
    return spec


def run_daily(
    project: Workspace,
    path: Path,
    *,
    today: str | None = None,
    params: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> DailyResult:
    """Run main for today and the previous `lookback_days` days (oldest first), then set the marks.

    The main runs' `hwm` steps and the daily's own `hwm` tables are set once,
    at the end, to the newest date that published (a failed date stops the
    daily and is never marked). `annotations` are stored with the daily run
    only (the scheduler keeps the trigger's high-water mark there to know when
    it advances).
    """
    spec = load_daily(project, path, params)
    timezone = spec.timezone or project.config.timezone
    day = parse_date(today) if today else parse_date(today_in(timezone))
    main = spec.workflow_path
    checked, inherited = split_params(path, spec.params, params)
    inherited["EXECUTION_TIMEZONE"] = timezone
    run_params = {**inherited, **checked}
    dates = [(day - dt.timedelta(days=back)).isoformat() for back in range(spec.lookback_days, -1, -1)]
    daily_run = project.state.start_run(
        spec.id, kind="daily", params={**run_params, **(annotations or {})}, execution_date=day.isoformat()
    )
    runs: list[RunResult] = []
    result = DailyResult(workflow_id=spec.id, today=day.isoformat(), runs=runs, status=Status.SUCCESS)
    deferred = DeferredMarks()
    try:
        for date in dates:
            try:
                if date == dates[0]:  # preflight of the whole workflow before the first day runs anything
                    run_workflow(project, main, date=date, params=checked, inherited=inherited, dry_run=True)
                run = run_workflow(project, main, date=date, params=checked, inherited=inherited, kind="main",
                                   parent_run_id=daily_run, deferred_marks=deferred)
            except SpecError as exc:  # a scheduled daily reports a broken workflow like any failure
                result.status, result.error = Status.FAILED, f"{date}: {exc}"
                break
            assert isinstance(run, RunResult)
            runs.append(run)
            if not run.ok:
                result.status = Status.FAILED
                result.error = f"{date}: {run.error}"
                break
    except KeyboardInterrupt:
        project.state.finish_run(daily_run, Status.INTERRUPTED, error="interrupted (Ctrl-C)")
        raise
    published = [r.execution_date for r in runs if r.ok]
    newest = max(published, default=None)
    own = {table: parse_hwm(newest, timezone) for table in spec.hwm} if newest else {}
    result.hwm, result.hwm_kept = settle_marks(
        project.catalog, deferred.marks, published=published, failed=[r.execution_date for r in runs if not r.ok],
        extra=own,
    )
    if not result.ok:
        own_webhook = spec.notifications.webhook if spec.notifications else None
        delivery = notify_failure(
            Notifier.for_project(project.root, project.config, webhook=own_webhook),
            {"workflow_id": spec.id, "kind": "daily", "today": day.isoformat(), "error": result.error,
             "run_id": daily_run, "failed_runs": [r.run_id for r in runs if not r.ok]},
        )
        if delivery:
            result.error = f"{result.error}\n{delivery}"
    project.state.finish_run(daily_run, result.status, error=result.error)
    return result
