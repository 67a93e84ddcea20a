"""Daily workflows: run main for today and `lookback_days` earlier days, then advance high-water marks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from towpath.errors import SpecError
from towpath.workflows.notify import notify_failure
from towpath.workflows.params import parse_date, split_params, today_in
from towpath.workflows.results import DailyResult, RunResult
from towpath.workflows.runner import run_workflow

if TYPE_CHECKING:
    from towpath.project import Project


def load_daily(project: Project, path: Path, params: Mapping[str, str] | None = None) -> Any:
    from towpath.workflows.loader import load_workflow
    from towpath.workflows.spec import DailySpec

    spec = load_workflow(path, dict(project.config.params), cli_params=dict(params or {}), strict=False)
    if not isinstance(spec, DailySpec):
        raise SpecError("expected a workflow with `type: daily`", file=path, field="type")
    return spec


def run_daily(
    project: Project,
    path: Path,
    *,
    today: str | None = None,
    params: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> DailyResult:
    """Run main for today and the previous `lookback_days` days (oldest first), then set the marks.

    `annotations` are stored with the daily run only (the scheduler keeps the
    trigger's high-water mark there to know when it advances).
    """
    from towpath.catalog.metadata import set_hwm

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
    result = DailyResult(workflow_id=spec.id, today=day.isoformat(), runs=runs, status="success")
    for date in dates:
        try:
            if date == dates[0]:  # preflight of the whole workflow before the first day runs anything
                run_workflow(project, main, date=date, params=checked, inherited=inherited, dry_run=True)
            run = run_workflow(project, main, date=date, params=checked, inherited=inherited, kind="main",
                               parent_run_id=daily_run)
        except SpecError as exc:  # a scheduled daily reports a broken workflow like any failure
            result.status, result.error = "failed", f"{date}: {exc}"
            break
        assert isinstance(run, RunResult)
        runs.append(run)
        if not run.ok:
            result.status = "failed"
            result.error = f"{date}: {run.error}"
            break
    if result.ok:
        for table in spec.hwm:
            result.hwm[table] = set_hwm(project.catalog, table, day.isoformat(), timezone).isoformat()
    else:
        delivery = notify_failure(
            spec.notifications.webhook if spec.notifications and spec.notifications.webhook
            else project.config.notifications.webhook,
            {"workflow_id": spec.id, "kind": "daily", "today": day.isoformat(), "error": result.error,
             "run_id": daily_run, "failed_runs": [r.run_id for r in runs if not r.ok]},
        )
        if delivery:
            result.error = f"{result.error}\n{delivery}"
    project.state.finish_run(daily_run, result.status, error=result.error)
    return result
