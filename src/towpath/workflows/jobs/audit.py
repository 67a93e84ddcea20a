"""`audit` jobs, and the audit execution shared with the WAP template."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from towpath.workflows.context import RunContext
from towpath.workflows.results import AuditOutcome, JobResult


def execute_audits(
    audits: Sequence[Any], ctx: RunContext, job_id: str, *, default_table: str | None, refs: Mapping[str, str]
) -> list[AuditOutcome]:
    """Run audits (against `refs` branches), store each result with the run, and return them."""
    from towpath.audits import run_audits
    from towpath.catalog.state import AuditRecord

    def query(sql: str) -> Any:
        return ctx.engine.query(sql, dialect="duckdb", refs=refs)

    outcomes = []
    for result in run_audits(audits, query, default_table=default_table):
        outcome = AuditOutcome(
            name=result.name, function=result.function, table=result.table, blocking=result.blocking,
            passed=result.passed, failing_rows=result.failing_rows, sample=result.sample, message=result.message,
        )
        ctx.store.record_audit(ctx.run_id, job_id, AuditRecord(**vars(outcome)))
        outcomes.append(outcome)
    return outcomes


def run_audit_job(spec: Any, ctx: RunContext) -> JobResult:
    started = time.perf_counter()
    outcomes = execute_audits(spec.audits, ctx, spec.id, default_table=None, refs=ctx.refs)
    result = JobResult(
        job_id=spec.id, job_type="audit", status="success", duration_s=time.perf_counter() - started,
        audits=outcomes, warnings=[o.message for o in outcomes if not o.passed and not o.blocking],
    )
    failed = [o for o in outcomes if not o.passed and o.blocking]
    if failed:
        result.status = "audit_failed"
        result.error = audit_failure_message(failed, branch=None)
    return result


def audit_failure_message(failed: Sequence[AuditOutcome], *, branch: str | None) -> str:
    """Name every failing blocking audit, the branch kept for inspection, and sample rows."""
    lines = [f"{len(failed)} blocking audit(s) failed; nothing was published"]
    if branch:
        lines[0] += f" (the data is kept on branch '{branch}' for inspection)"
    for outcome in failed:
        lines.append(f"  - {outcome.name}: {outcome.message}")
        lines.extend(f"      {row}" for row in outcome.sample[:3])
    return "\n".join(lines)
