"""`audit` jobs, and the audit execution shared with the WAP template."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from towpath.workflows.context import RunContext
from towpath.workflows.results import JobResult

if TYPE_CHECKING:
    from towpath.audits import AuditResult


def execute_audits(
    audits: Sequence[Any], ctx: RunContext, job_id: str, *, default_table: str | None, refs: Mapping[str, str]
) -> list[AuditResult]:
    """Run audits (reading `refs` branches) and store each result with the run."""
    from towpath.audits import run_audits
    from towpath.catalog.state import AuditRecord

    def query(sql: str) -> Any:
        return ctx.engine.query(sql, dialect="duckdb", refs=refs)

    results = run_audits(audits, query, default_table=default_table)
    record_fields = {f.name for f in dataclasses.fields(AuditRecord)}
    for result in results:
        ctx.store.record_audit(
            ctx.run_id, job_id, AuditRecord(**{k: v for k, v in vars(result).items() if k in record_fields})
        )
    return results


def apply_audit_results(job: JobResult, results: list[AuditResult], *, branch: str | None) -> None:
    """Attach results to the job; non-blocking failures become warnings, blocking ones fail it."""
    from towpath.audits import AuditFailedError

    job.audits = results
    job.warnings = [r.message for r in results if not r.passed and not r.blocking]
    failed = [r for r in results if not r.passed and r.blocking]
    if failed:
        job.status = "audit_failed"
        job.error = str(AuditFailedError(failed, table=failed[0].table, branch=branch))


def run_audit_job(spec: Any, ctx: RunContext) -> JobResult:
    started = time.perf_counter()
    job = JobResult(job_id=spec.id, job_type="audit", status="success")
    apply_audit_results(job, execute_audits(spec.audits, ctx, spec.id, default_table=None, refs=ctx.refs), branch=None)
    job.duration_s = time.perf_counter() - started
    return job
