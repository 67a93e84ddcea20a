"""What the state store hands back: plain dataclasses the CLI renders and scripts read as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from towpath.status import Status

if TYPE_CHECKING:
    from towpath.audits import AuditResult


@dataclass
class RunRecord:
    run_id: str
    workflow_id: str
    kind: str
    """`main`, `daily` or `backfill`."""
    status: Status
    execution_date: str | None
    params: dict[str, str]
    started_at: str
    finished_at: str | None
    duration_s: float | None
    error: str | None
    parent_run_id: str | None
    pid: int | None = None
    host: str | None = None
    heartbeat_at: str | None = None
    """Last sign of life of the process running it (refreshed while it runs)."""
    workflow_path: str | None = None
    """The workflow file that ran (None for runs recorded before schema version 4)."""
    graph: dict[str, list[str]] | None = None
    """Step id -> the step ids it waited for, in the workflow's order (its DAG)."""


@dataclass(frozen=True)
class DateStatus:
    """One cell of a dates x status grid: a workflow's latest `main` run for an execution date."""

    workflow_id: str
    execution_date: str
    status: Status
    run_id: str
    runs: int
    """Runs recorded for that date (reruns included)."""


@dataclass
class JobRecord:
    id: int
    run_id: str
    job_id: str
    """A WAP template's write jobs are `<wap id>.<job id>`."""
    job_type: str
    status: Status
    started_at: str
    finished_at: str | None
    duration_s: float | None
    rows_written: int | None
    snapshots: dict[str, int]
    """Table -> snapshot id the job produced (published or on its branch)."""
    error: str | None
    details: dict[str, Any]
    parent_job: int | None = None
    """The job run of the WAP template a write job ran in."""
    attempt: int | None = None
    """The WAP attempt a write job ran in (1 unless `main` moved and the template retried)."""


@dataclass(frozen=True)
class RecordedAudit:
    """An audit's result as stored with a run: which job and which WAP attempt ran it."""

    job_id: str
    attempt: int | None
    result: AuditResult


@dataclass
class RunDetail:
    run: RunRecord
    jobs: list[JobRecord]
    audits: list[RecordedAudit]


@dataclass(frozen=True)
class Staging:
    """A version a WAP publisher staged (an Iceberg branch of one table), and why it still exists."""

    publisher: str
    target: str
    """The table (or namespace) staged."""
    ref: str
    """The branch (or version) name."""
    run_id: str
    job_id: str
    attempt: int
    status: str
    """`staged` (being written), `kept` (audits failed), `published` or `discarded`."""
    reason: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class KvVersion:
    """One numbered version of a key-value namespace (Bulldozer): written, audited, then put online."""

    namespace: str
    version: int
    status: str
    """`started`, `online`, `error` or `retired`."""
    run_id: str | None
    rows: int | None
    created_at: str
    updated_at: str
    details: dict[str, Any]


@dataclass(frozen=True)
class KvAlias:
    """The name readers use, pointing at one complete version of a namespace."""

    alias: str
    namespace: str
    version: int
    previous_version: int | None
    """What the alias pointed at before the last swap (the rollback target)."""
    updated_at: str


@dataclass(frozen=True)
class StreamOffset:
    """The next Kafka offset of a partition that a stream job has not yet committed to the lake."""

    stream: str
    topic: str
    partition: int
    next_offset: int
    snapshot_id: int | None
    """The table snapshot that made the offsets before `next_offset` visible."""
    committed_at: str


@dataclass(frozen=True)
class PendingWindow:
    """A files-sink window whose offsets are committed but whose files may not all be in place yet."""

    stream: str
    window: str
    moves: list[tuple[str, str]]
    """(staged path, final path) of each file, in order."""
    created_at: str


@dataclass(frozen=True)
class MigrationRecord:
    migration_id: str
    checksum: str
    """Of the migration's text when it was applied (an edited, applied migration is refused)."""
    status: str
    run_id: str | None
    applied_at: str
    details: dict[str, Any]


@dataclass(frozen=True)
class LineageEdge:
    """`target(.target_column)` is computed from `source(.source_column)` by a job (statically: no `run_id`)."""

    source: str
    target: str
    source_column: str | None = None
    target_column: str | None = None
    run_id: str | None = None
    recorded_at: str | None = None
    workflow_id: str | None = None
    job_id: str | None = None
    kind: str | None = None
    """How the edge is known: `sql` (the query's column lineage), `declared` (the job's `lineage:`),
    `inferred` (a Python job's column of the same name), `table` (table level only)."""
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class LineageUse:
    """Code of `workflow_id`'s `job_id` names `table(.column)` at `file:line` (`role`: `read` or `write`)."""

    workflow_id: str
    job_id: str
    table: str
    column: str | None
    role: str
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class LineageWorkflow:
    workflow_id: str
    path: str | None
    owner: str | None
    refreshed_at: str


@dataclass(frozen=True)
class LineageRun:
    """A job run read (`input`) or wrote (`output`) `table` at `snapshot_id`."""

    run_id: str
    workflow_id: str
    job_id: str
    table: str
    role: str
    snapshot_id: int | None
    status: str
    recorded_at: str


@dataclass(frozen=True)
class Lease:
    """Who holds a singleton role, e.g. `scheduler` of a project."""

    name: str
    holder: str
    """A token unique to this holding, so a renewal can tell it still holds it."""
    pid: int
    host: str
    acquired_at: str
    heartbeat_at: str


@dataclass(frozen=True)
class AlertFiring:
    """A stream alert that matched rows of a window, with the Kafka offsets of that window."""

    stream: str
    alert: str
    matched: int
    offsets: dict[str, list[int]]
    """`topic/partition` -> [first offset, next offset] of the window the rows came from."""
    snapshot_id: int | None
    sample: list[dict[str, Any]]
    notify: str
    delivery_error: str | None
    fired_at: str


@dataclass(frozen=True)
class SavedChart:
    """A chart of a table saved from the console's chart builder, on a project's dashboard."""

    chart_id: str
    dashboard: str
    title: str
    table: str
    spec: dict[str, Any]
    """The builder's fields (`x`, `y`, `aggregate`, `series`, `filter`, `mark`) the chart is drawn from."""
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Deployment:
    """One `towpath project deploy`, `promote` or `env drop` of an environment, as the state room recorded it."""

    id: int
    env: str
    """The environment (`production` for a deploy of main/master)."""
    action: str
    """`deploy`, `promote` or `drop`."""
    commit_sha: str | None
    branch: str | None
    dirty: bool
    """The working tree had uncommitted changes: the commit does not describe what ran."""
    workflows: list[str]
    schedules: list[str]
    tables: list[str]
    detail: dict[str, Any]
    at: str
    host: str | None
