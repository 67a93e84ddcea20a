"""A local scheduler: fires daily workflows whose cron is due or whose trigger table advanced.

State lives in the run store: the last daily run of a workflow says when it
last fired and which upstream high-water mark it saw, so restarts resume
without firing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from croniter import croniter

from towpath.errors import TowpathError
from towpath.workflows.context import Workspace
from towpath.workflows.daily import load_daily, run_daily
from towpath.workflows.params import zone
from towpath.workflows.results import DailyResult

log = logging.getLogger(__name__)

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
    def annotations(self) -> dict[str, str]:
        """What the daily run records so the next check knows this firing happened."""
        notes = {TRIGGER_KEY: self.trigger_hwm, TICK_KEY: self.tick}
        return {k: v for k, v in notes.items() if v}


def discover(root: Path) -> Iterator[Path]:
    """Every `*.sch.yaml` under the project, outside state and virtualenv folders."""
    for path in sorted(root.rglob("*.sch.yaml")):
        if not SKIP_DIRS.intersection(path.relative_to(root).parts):
            yield path


def due_workflows(project: Workspace, now: dt.datetime | None = None) -> list[Firing]:
    """Daily workflows that should fire at `now` (UTC default)."""
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
            tick = croniter(spec.schedule, local_now).get_prev(dt.datetime)
            fired_for = last_run.params.get(TICK_KEY) if last_run else None
            if fired_for is None or dt.datetime.fromisoformat(fired_for) < tick:
                reason = f"cron '{spec.schedule}' was due at {tick.isoformat()}"
                firings.append(Firing(path, spec.id, reason, today, trigger_hwm=trigger_hwm, tick=tick.isoformat()))
    return firings


OnResult = Callable[[Firing, DailyResult | None, str | None], Any]
"""Called after each firing with its result, or None and the error when the daily could not start."""


def run_due(project: Workspace, now: dt.datetime | None = None, on_result: OnResult | None = None) -> list[DailyResult]:
    """Fire every due daily workflow once; a failing one does not stop the others."""
    results = []
    for firing in due_workflows(project, now):
        try:
            result = run_daily(project, firing.path, today=firing.today, annotations=firing.annotations)
        except TowpathError as exc:
            log.error("daily workflow %s could not start: %s", firing.workflow_id, exc)
            if on_result:
                on_result(firing, None, str(exc))
            continue
        results.append(result)
        if on_result:
            on_result(firing, result, result.error)
    return results


def run_scheduler(
    project: Workspace,
    *,
    once: bool = False,
    interval: float = 30.0,
    on_result: OnResult | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    keep_going: Callable[[], bool] = lambda: True,
) -> list[DailyResult]:
    """Check for due workflows every `interval` seconds (or once) and fire them.

    `clock` (UTC now), `sleep` and `keep_going` (checked before each sleep) let
    a caller drive the loop deterministically; the CLI uses the defaults and
    stops on Ctrl-C.
    """
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    results = run_due(project, now(), on_result=on_result)
    while not once and keep_going():
        sleep(interval)
        results.extend(run_due(project, now(), on_result=on_result))
    return results
