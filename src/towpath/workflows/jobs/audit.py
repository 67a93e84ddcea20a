"""`audit` jobs, and the audit execution shared with the WAP template."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from towpath.audits import AuditResult, AuditSpec, failure_report, run_audits
from towpath.status import Status
from towpath.workflows.context import RunContext
from towpath.workflows.jobs import JobType
from towpath.workflows.results import JobResult
from towpath.workflows.spec.base import JobSpec

if TYPE_CHECKING:
    from towpath.workflows.preflight import Preflight

__all__ = ["AuditJob", "AuditJobSpec", "apply_audit_results", "execute_audits", "record_audits"]


class AuditJobSpec(JobSpec):
    """Run audits against `main` (outside a WAP template); each audit names its `table`."""

    type: Literal["audit"]
    audits: list[AuditSpec] = Field(min_length=1)
    """Audits to run (see docs/workflows.md for the built-in functions)."""


def execute_audits(
    audits: Sequence[AuditSpec],
    ctx: RunContext,
    job_id: str,
    *,
    default_table: str | None,
    refs: Mapping[str, str],
    attempt: int | None = None,
) -> list[AuditResult]:
    """Run audits (reading `refs` branches) and store each result with the run (and the WAP attempt).

    User-written fragments (`where`, `custom_sql`) are read in the project's
    dialect, like the workflow's SQL jobs; the generated queries are DuckDB SQL
    the engine transpiles. Counting audits over whole partitions are answered
    from the catalog's metadata (`Engine.file_counts`).
    """
    def query(sql: str) -> Any:
        return ctx.engine.query(sql, dialect="duckdb", refs=refs)

    results = run_audits(
        audits, query, default_table=default_table, dialect=ctx.config.dialect,
        file_counts=partial(ctx.engine.file_counts, refs=refs),
    )
    record_audits(ctx, job_id, results, attempt=attempt)
    return results


def record_audits(ctx: RunContext, job_id: str, results: Sequence[AuditResult], *, attempt: int | None = None) -> None:
    """Store audit results with the run (a WAP template stores each attempt's, with its number)."""
    ctx.state.record_audits(ctx.run_id, job_id, results, attempt=attempt)


def apply_audit_results(job: JobResult, results: list[AuditResult], *, branch: str | None) -> None:
    """Attach results to the job; non-blocking failures become warnings, blocking ones fail it."""
    job.audits = results
    job.warnings = [r.message for r in results if not r.passed and not r.blocking]
    failed = [r for r in results if not r.passed and r.blocking]
    if failed:
        job.status = Status.AUDIT_FAILED
        job.error = failure_report(failed, table=failed[0].table, branch=branch)


class AuditJob(JobType[AuditJobSpec]):
    """Audits `main`; a blocking failure fails the step (nothing to un-publish)."""

    name = "audit"
    SPEC = AuditJobSpec

    @classmethod
    def check(cls, spec: AuditJobSpec, preflight: Preflight) -> None:
        preflight.audits(spec.audits, default_table=None)

    @classmethod
    def run(cls, spec: AuditJobSpec, ctx: RunContext) -> JobResult:
        started = time.perf_counter()
        job = JobResult(job_id=spec.id, job_type="audit", status=Status.SUCCESS)
        results = execute_audits(spec.audits, ctx, spec.id, default_table=None, refs=ctx.refs)
        apply_audit_results(job, results, branch=None)
        job.duration_s = time.perf_counter() - started
        return job
