"""What a workflow run returns: plain dataclasses the CLI renders and scripts read as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from towpath.status import Status

if TYPE_CHECKING:
    from towpath.audits import AuditResult


@dataclass
class JobResult:
    job_id: str
    job_type: str
    status: Status
    duration_s: float = 0.0
    rows_written: int | None = None
    snapshots: dict[str, int] = field(default_factory=dict)
    audits: list[AuditResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    run_id: str
    workflow_id: str
    execution_date: str
    status: Status
    duration_s: float
    params: dict[str, str]
    jobs: list[JobResult] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == Status.SUCCESS

    @property
    def published(self) -> dict[str, int]:
        """Tables a Write-Audit-Publish step made visible on `main` in this run, with their new snapshot."""
        return {t: s for job in self.jobs if job.job_type == "wap" and job.status == "success"
                for t, s in job.snapshots.items()}

    @property
    def failed_audits(self) -> list[str]:
        return [a.name for job in self.jobs for a in job.audits if not a.passed and a.blocking]

    @property
    def warnings(self) -> list[str]:
        return [w for job in self.jobs for w in job.warnings]


@dataclass
class DryRunStep:
    step_id: str
    step_type: str
    depends_on: list[str]
    details: dict[str, Any]
    sql: str | None = None


@dataclass
class DryRun:
    workflow_id: str
    execution_date: str
    params: dict[str, str]
    steps: list[DryRunStep]


@dataclass
class DailyResult:
    workflow_id: str
    today: str
    runs: list[RunResult]
    status: Status
    hwm: dict[str, str] = field(default_factory=dict)
    """Table -> the mark set at the end (the newest date that published)."""
    hwm_kept: dict[str, str] = field(default_factory=dict)
    """Table -> a newer mark that was left in place."""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == Status.SUCCESS


@dataclass
class BackfillResult:
    workflow_id: str
    start: str
    end: str
    succeeded: list[str]
    failed: dict[str, str]
    skipped: list[str]
    runs: list[RunResult]
    hwm: dict[str, str] = field(default_factory=dict)
    """Table -> the mark set at the end (the newest date with no failed date at or before it)."""
    hwm_kept: dict[str, str] = field(default_factory=dict)
    """Table -> a newer mark that was left in place."""

    @property
    def status(self) -> Status:
        return Status.FAILED if self.failed else Status.SUCCESS

    @property
    def ok(self) -> bool:
        return not self.failed
