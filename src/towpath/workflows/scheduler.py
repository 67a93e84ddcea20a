"""Which daily workflows are due: their cron ticked, or their trigger table's mark advanced.

State lives in the run store: the last daily run of a workflow says when it
last fired and which upstream high-water mark it saw, so restarts resume
without firing twice. Cron slots missed while no scheduler ran are fired by the
catch-up policy: `latest` (default: the newest missed slot once), `all` (every
missed slot, oldest first, each for its own date) or `none` (only slots that
come due while the scheduler runs). The long-running service around this is
`scheduler_service.py`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from croniter import croniter

from towpath.errors import SpecError, SpecErrors
from towpath.workflows.context import Workspace
from towpath.workflows.daily import load_daily
from towpath.workflows.params import zone

log = logging.getLogger(__name__)

CatchUp = Literal["all", "latest", "none"]
CATCH_UP: tuple[CatchUp, ...] = get_args(CatchUp)
MAX_CATCH_UP = 366
"""Missed slots fired at most per workflow and check (`catchup: all` after a long outage)."""

TRIGGER_KEY = "_trigger_hwm"
TICK_KEY = "_scheduled_for"
SKIP_DIRS = {".towpath", ".venv", ".git", "node_modules", "__pycache__"}


@dataclass
class Firing:
    """Why a daily workflow is due now."""

    path: Path
    workflow_id: str
    reason: str
    today: str
    trigger_hwm: str | None = None
    tick: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """What makes two firings the same (one is queued or running: the other is not fired again)."""
        return self.workflow_id, self.tick or f"hwm:{self.trigger_hwm}"

    @property
    def annotations(self) -> dict[str, str]:
        """What the daily run records so the next check knows this firing happened."""
        notes = {TRIGGER_KEY: self.trigger_hwm, TICK_KEY: self.tick}
        return {k: v for k, v in notes.items() if v}


def discover(root: Path) -> Iterator[Path]:
    """Every `*.sch.yaml` under the project, outside state and virtualenv folders."""
    for path in sorted(root.rglob("*.sch.yaml")):
        if not SKIP_DIRS.intersection(path.relative_to(root).parts):
            yield path


def export_schedules(project: Workspace) -> list[dict[str, Any]]:
    """Every daily and backfill file of the project as plain data, for an orchestrator outside towpath.

    Each file is read with the loader the scheduler uses (`strict=False`: `${...}`
    left for the run), so Airflow's DAG factory sees exactly what `towpath schedule
    run` and `workflow daily|backfill` see. Every broken file is reported, each at
    its file:line, as one `SpecErrors`; nothing is exported then (a DAG generated
    from half a project would silently lose workflows).
    """
    from towpath.workflows.loader import load_workflow
    from towpath.workflows.spec import BackfillSpec, DailySpec

    exported: list[dict[str, Any]] = []
    errors: list[SpecError] = []
    for path in discover(project.root):
        try:
            spec = load_workflow(path, dict(project.config.params), strict=False)
            if not isinstance(spec, DailySpec | BackfillSpec):
                continue
            main = load_workflow(spec.workflow_path, dict(project.config.params), strict=False)
        except SpecError as exc:
            errors.append(exc)
            continue
        entry: dict[str, Any] = {
            "id": spec.id, "type": spec.type, "file": str(path), "workflow": str(spec.workflow_path),
            "workflow_id": main.id, "description": spec.description, "owner": spec.owner,
            "params": dict(spec.params),
        }
        if isinstance(spec, DailySpec):
            entry |= {
                "schedule": spec.schedule, "timezone": spec.timezone or project.config.timezone,
                "lookback_days": spec.lookback_days,
                "trigger": {"hwm_of": spec.trigger.hwm_of} if spec.trigger and spec.trigger.hwm_of else None,
                "hwm": list(spec.hwm),
            }
        else:
            entry |= {
                "start": spec.start.isoformat() if spec.start else None,
                "end": spec.end.isoformat() if spec.end else None,
                "parallel": spec.parallel, "timezone": project.config.timezone,
            }
        exported.append(entry)
    if errors:
        raise SpecErrors(errors)
    return exported


def due_workflows(
    project: Workspace, now: dt.datetime | None = None, *, catchup: CatchUp = "latest",
    since: dt.datetime | None = None,
) -> list[Firing]:
    """Daily workflows that should fire at `now` (UTC default), oldest slot first.

    `since` is when the scheduler started: with `catchup="none"` only slots after it fire.
    """
    from towpath.catalog.metadata import get_hwm
    from towpath.workflows.loader import load_workflow
    from towpath.workflows.spec import DailySpec

    now = now or dt.datetime.now(dt.UTC)
    firings = []
    for path in discover(project.root):
        head = load_workflow(path, dict(project.config.params), strict=False)
        if not isinstance(head, DailySpec):
            continue
        spec = load_daily(project, path)
        last = project.state.list_runs(workflow_id=spec.id, kind="daily", limit=1)
        last_run = last[0] if last else None
        tz = zone(spec.timezone or project.config.timezone)
        local_now = now.astimezone(tz)
        today = local_now.date().isoformat()
        trigger_hwm = None
        if spec.trigger and spec.trigger.hwm_of:
            mark = get_hwm(project.catalog, spec.trigger.hwm_of)
            trigger_hwm = mark.isoformat() if mark else None
            seen = last_run.params.get(TRIGGER_KEY) if last_run else None
            if trigger_hwm and trigger_hwm != seen:
                reason = f"high-water mark of {spec.trigger.hwm_of} advanced to {trigger_hwm}"
                firings.append(Firing(path, spec.id, reason, today, trigger_hwm=trigger_hwm))
                continue
        if spec.schedule:
            fired_for = last_run.params.get(TICK_KEY) if last_run else None
            last_tick = dt.datetime.fromisoformat(fired_for) if fired_for else None
            for tick in due_ticks(spec.schedule, local_now, last_tick, catchup, since):
                reason = f"cron '{spec.schedule}' was due at {tick.isoformat()}"
                firings.append(Firing(
                    path, spec.id, reason, tick.date().isoformat(), trigger_hwm=trigger_hwm, tick=tick.isoformat(),
                ))
    return firings


def due_ticks(
    schedule: str, now: dt.datetime, last: dt.datetime | None, catchup: CatchUp, since: dt.datetime | None,
) -> list[dt.datetime]:
    """The cron slots of `schedule` to fire at `now`, given the last slot fired (None: never).

    >>> import datetime as dt
    >>> now, last = dt.datetime(2022, 1, 5, 7), dt.datetime(2022, 1, 2, 6)
    >>> [t.day for t in due_ticks("0 6 * * *", now, last, "all", None)]
    [3, 4, 5]
    >>> [t.day for t in due_ticks("0 6 * * *", now, last, "latest", None)]
    [5]
    >>> due_ticks("0 6 * * *", now, last, "none", since=dt.datetime(2022, 1, 5, 6, 30))
    []
    """
    latest: dt.datetime = croniter(schedule, now).get_prev(dt.datetime)
    if last is not None and last >= latest:
        return []
    if catchup == "none" and since is not None and latest < since:
        return []  # it came due while no scheduler ran
    if catchup != "all" or last is None:
        return [latest]
    ticks: list[dt.datetime] = []
    walk = croniter(schedule, last)
    while len(ticks) < MAX_CATCH_UP:
        tick: dt.datetime = walk.get_next(dt.datetime)
        if tick > latest:
            break
        ticks.append(tick)
    if len(ticks) == MAX_CATCH_UP:
        log.warning("cron '%s': more than %d missed slots; firing the first %d now", schedule, MAX_CATCH_UP, MAX_CATCH_UP)
    return ticks
