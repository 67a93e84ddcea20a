"""What the runs pages show: the filtered list, one run with its step graph, one step, the date grid.

Each function returns plain data (dataclasses and dicts of them): the page
renders it, and the same object is the page's JSON. The run list is what
`towpath runs list --json` prints; a run is `towpath runs show --json` plus
the stagings it made (its WAP branches).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from towpath.status import Status
from towpath.ui.config import UiInputError, UiNotFoundError

if TYPE_CHECKING:
    from towpath.project import Project
    from towpath.state import DateStatus, JobRecord, RecordedAudit, RunDetail, RunRecord, Staging
    from towpath.ui.tables import Descriptions


@dataclass(frozen=True)
class RunFilter:
    """The runs list's filters, from the query string (every field optional)."""

    workflow: str | None = None
    status: str | None = None
    kind: str | None = None
    since: str | None = None
    until: str | None = None
    page: int = 1

    @classmethod
    def parse(cls, query: dict[str, str]) -> RunFilter:
        status = query.get("status") or None
        if status is not None and status not in {s.value for s in Status}:
            raise UiInputError(f"status: expected one of {', '.join(s.value for s in Status)}, got {status!r}")
        return cls(query.get("workflow") or None, status, query.get("kind") or None, _date(query, "since"), _date(query, "until"),
                   _positive(query, "page", 1))


@dataclass
class RunList:
    runs: list[RunRecord]
    total: int
    page: int
    pages: int
    filters: RunFilter
    workflows: list[str]


def run_list(project: Project, filters: RunFilter, *, page_size: int) -> RunList:
    state = project.state
    where: dict[str, Any] = {"workflow_id": filters.workflow, "status": filters.status, "kind": filters.kind,
                             "since": filters.since, "until": filters.until}
    total = state.count_runs(**where)
    runs = state.list_runs(limit=page_size, offset=(filters.page - 1) * page_size, **where)
    return RunList(runs, total, filters.page, max(1, -(-total // page_size)), filters, state.workflow_ids())


@dataclass
class RunPage:
    """`towpath runs show --json`'s run, jobs and audits, plus the versions the run staged."""

    run: RunRecord
    jobs: list[JobRecord]
    audits: list[RecordedAudit]
    stagings: list[Staging]
    graph: dict[str, list[str]]
    """Step id -> the step ids it waited for (the recorded DAG; in run order for older runs)."""


def run_page(project: Project, run_id: str) -> RunPage:
    from towpath.state import RunNotFoundError

    try:
        detail: RunDetail = project.state.get_run(run_id)
    except RunNotFoundError as exc:
        raise UiNotFoundError(str(exc)) from None
    graph = detail.run.graph or _sequential(detail.jobs)
    return RunPage(detail.run, detail.jobs, detail.audits, project.state.stagings.of_run(run_id), graph)


@dataclass
class StepPage:
    run: RunRecord
    step: str
    jobs: list[JobRecord]
    """The step's job runs: a WAP template and its write jobs (one per attempt)."""
    audits: list[RecordedAudit]
    stagings: list[Staging]


def step_page(project: Project, run_id: str, step: str) -> StepPage:
    page = run_page(project, run_id)
    jobs = [j for j in page.jobs if j.job_id == step or j.job_id.startswith(f"{step}.")]
    if not jobs:
        raise UiNotFoundError(f"run {run_id} has no step '{step}' (steps: {', '.join(page.graph) or 'none'})")
    return StepPage(page.run, step, jobs, [a for a in page.audits if a.job_id == step],
                    [s for s in page.stagings if s.job_id == step])


def _sequential(jobs: list[JobRecord]) -> dict[str, list[str]]:
    """A run recorded before schema 4 has no graph: its top-level steps in the order they ran."""
    graph: dict[str, list[str]] = {}
    previous: str | None = None
    for job in jobs:
        if job.parent_job is None and job.job_id not in graph:
            graph[job.job_id] = [previous] if previous else []
            previous = job.job_id
    return graph


@dataclass
class GridRow:
    workflow_id: str
    cells: dict[str, DateStatus]
    """Execution date -> its latest main run."""
    marks: dict[str, str | None] = field(default_factory=dict)
    """Table the workflow writes -> its high-water mark (ISO date), drawn on the row."""


@dataclass
class Grid:
    dates: list[str]
    rows: list[GridRow]
    since: str
    until: str


def date_grid(project: Project, descriptions: Descriptions, query: dict[str, str], *, days: int = 31) -> Grid:
    """Dates x status for every workflow (or `workflow=`), `since`..`until` (default: the last `days`
    dates that have runs), with the marks of the tables each workflow writes."""
    state = project.state
    workflow = query.get("workflow") or None
    until, since = _date(query, "until"), _date(query, "since")
    if until is None:
        until = state.last_execution_date(workflow_id=workflow) or dt.date.today().isoformat()
    if since is None:
        since = (dt.date.fromisoformat(until) - dt.timedelta(days=days - 1)).isoformat()
    start, end = dt.date.fromisoformat(since), dt.date.fromisoformat(until)
    if end < start:
        raise UiInputError(f"until ({until}) is before since ({since})")
    if (end - start).days > 366:
        raise UiInputError("the grid shows at most 366 dates: narrow since/until")
    cells = state.date_statuses(workflow_id=workflow, since=since, until=until)
    dates = [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    rows: dict[str, GridRow] = {}
    for cell in cells:
        if since <= cell.execution_date <= until:
            rows.setdefault(cell.workflow_id, GridRow(cell.workflow_id, {})).cells[cell.execution_date] = cell
    writes = _written_tables(project)
    marks = {d.identifier: d.hwm.date().isoformat() if d.hwm else None for d in descriptions.all()}
    for row in rows.values():
        row.marks = {table: marks.get(table) for table in writes.get(row.workflow_id, []) if table in marks}
    return Grid(dates, sorted(rows.values(), key=lambda r: r.workflow_id), since, until)


def _written_tables(project: Project) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}
    for edge in project.state.lineage.static_edges():
        if edge.workflow_id:
            out.setdefault(edge.workflow_id, set()).add(edge.target)
    return {w: sorted(t) for w, t in out.items()}


@dataclass(frozen=True)
class Rerun:
    run_id: str
    workflow_id: str
    execution_date: str
    pid: int
    log: str
    """The file the rerun's output goes to."""


def rerun(project: Project, run_id: str) -> Rerun:
    """Start `towpath workflow run FILE --date DATE` for a run's workflow and date in a new process.

    The run records itself in the state store like any other; the console only
    starts it. Publish-after-fix is never offered: a rerun runs the audits again.
    """
    page = run_page(project, run_id)
    run = page.run
    if run.kind != "main" or not run.execution_date:
        raise UiInputError(f"run {run_id} is a {run.kind} run: rerun one of its dates (a main run)")
    if not run.workflow_path or not Path(run.workflow_path).is_file():
        raise UiInputError(f"run {run_id} does not record an existing workflow file "
                           f"({run.workflow_path or 'recorded before schema 4'}); run it with `towpath workflow run`")
    logs = project.root / ".towpath" / "ui"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"rerun-{run.workflow_id}-{run.execution_date}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "--no-worker", "workflow", "run",
             run.workflow_path, "--date", run.execution_date],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=project.root,
            start_new_session=True,
        )
    threading.Thread(target=process.wait, name=f"rerun-{process.pid}", daemon=True).start()  # reap it
    return Rerun(run_id, run.workflow_id, run.execution_date, process.pid, str(log))


def _date(query: dict[str, str], name: str) -> str | None:
    raw = query.get(name) or None
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:
        raise UiInputError(f"{name}: expected a date like 2024-01-31, got {raw!r}") from None


def _positive(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name) or None
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise UiInputError(f"{name}: expected a whole number from 1, got {raw!r}")
    return int(raw)
