"""The `wap` template: Write to a staged version, Audit it, Publish it in one atomic step.

The template drives any `towpath.publish.Publisher`; today that is the Iceberg
branch publisher (a branch per table, all tables' `main` moved in one catalog
commit). Each attempt stages its own version; the write jobs run as recorded
job runs (`<wap>.<job>`) inside a write scope that refuses writes to anything
the attempt did not stage; audits are recorded once per attempt. A write job
that wrote 0 rows fails the attempt like a blocking audit (`expect_rows`,
default true), so an empty source never publishes an empty partition.

A blocking audit failure publishes nothing and keeps the staged version for
inspection. If another writer published first, the publish refuses as a whole
(nothing of this attempt is visible), the attempt is discarded and redone on
the new `main`, up to `max_attempts`; because the publish is atomic, a retry
never writes on top of a half-published attempt.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from towpath.audits import AuditResult, AuditSpec
from towpath.catalog import normalize_identifier, write_scope
from towpath.config.params import parse_duration
from towpath.errors import ConflictError, WorkflowError
from towpath.publish import IcebergBranchPublisher, Publisher, Retention, Staged
from towpath.status import Status
from towpath.workflows.context import RunContext
from towpath.workflows.jobs import JobType
from towpath.workflows.jobs.audit import apply_audit_results, execute_audits, record_audits
from towpath.workflows.results import JobResult
from towpath.workflows.spec import JobSpec, WriteJobStep

if TYPE_CHECKING:
    from towpath.workflows.preflight import Preflight

__all__ = ["WapSpec", "WapTemplate", "branch_name", "run_wap_template"]

log = logging.getLogger(__name__)


class WapSpec(JobSpec):
    """Write-Audit-Publish: write to a branch, audit it, publish to `main` only if the audits pass."""

    type: Literal["wap"] = "wap"
    tables: list[str] = Field(min_length=1)
    """Tables the write jobs write; each gets its own branch for this run."""
    write_jobs: list[WriteJobStep] = Field(min_length=1)
    """`- job:` steps (sql or python) that write the branch, in order."""
    audits: list[AuditSpec] = Field(default_factory=list)
    """Audits run against the branch before publishing (default table: the only entry of `tables`)."""
    max_attempts: int = Field(default=3, ge=1)
    """Whole write-audit-publish attempts when another writer moves `main` before the publish."""


def branch_name(ctx: RunContext, wap_id: str, attempt: int) -> str:
    return f"wap_{ctx.run_id}_{wap_id}_{attempt}".replace("-", "_").lower()


def run_wap_template(spec: WapSpec, ctx: RunContext) -> JobResult:
    started = time.perf_counter()
    publisher: Publisher = IcebergBranchPublisher(
        ctx.catalog, spec.tables, state=ctx.state, run_id=ctx.run_id, job_id=spec.id, retention=_retention(ctx),
    )
    result = JobResult(job_id=spec.id, job_type="wap", status=Status.SUCCESS)
    for attempt in range(1, spec.max_attempts + 1):
        staged = publisher.stage(branch_name(ctx, spec.id, attempt), attempt=attempt)
        try:
            _attempt(spec, ctx, publisher, staged, result)
        except ConflictError as exc:
            publisher.discard(staged)
            if attempt == spec.max_attempts:
                raise WorkflowError(
                    f"WAP '{spec.id}' could not publish after {attempt} attempts because other writers kept "
                    f"moving main: {exc}"
                ) from exc
            log.info("WAP %s: main moved during attempt %d, retrying on the new main: %s", spec.id, attempt, exc)
            continue
        except BaseException:
            publisher.discard(staged)
            raise
        result.details["attempt"] = attempt
        break
    result.duration_s = time.perf_counter() - started
    return result


def _attempt(spec: WapSpec, ctx: RunContext, publisher: Publisher, staged: Staged, result: JobResult) -> None:
    """Write, audit and publish `staged`; a failed write discards it, a failed audit keeps it.

    Raises:
        ConflictError: `main` moved before the publish; nothing was published.
    """
    from towpath.workflows.runner import run_node

    write_ctx = replace(ctx.with_refs(staged.refs), parent_job=ctx.job_run, attempt=staged.attempt)
    writes: list[JobResult] = []
    result.status, result.error, result.audits, result.warnings = Status.SUCCESS, None, [], []
    result.details = {"branch": staged.name, "write_jobs": [], "attempt": staged.attempt}
    with write_scope(f"WAP template '{spec.id}'", staged.refs):
        for step in spec.write_jobs:
            job = run_node(step.job, write_ctx, job_id=f"{spec.id}.{step.job.id}")
            writes.append(job)
            result.details["write_jobs"].append(job.job_id)
            if job.status != Status.SUCCESS:
                result.status = job.status
                result.error = f"write job '{step.job.id}' {job.status.replace('_', ' ')}: {job.error}"
                publisher.discard(staged)
                return
    result.rows_written = sum(w.rows_written or 0 for w in writes)
    empty = [_empty_write(spec, step.job, job, ctx.execution_date) for step, job in zip(spec.write_jobs, writes, strict=True)]
    empty_results = [e for e in empty if e is not None]
    record_audits(ctx, spec.id, empty_results, attempt=staged.attempt)
    audits = execute_audits(
        spec.audits, ctx, spec.id, default_table=publisher.targets[0] if len(publisher.targets) == 1 else None,
        refs=staged.refs, attempt=staged.attempt,
    )
    apply_audit_results(result, [*empty_results, *audits], branch=staged.name)
    if result.status == Status.AUDIT_FAILED:
        failed = [a.name for a in result.audits if a.blocking and not a.passed]
        publisher.keep(staged, f"blocking audit failed: {', '.join(failed)}")
        return
    published = publisher.publish(staged)
    result.snapshots = {t: s for t, s in published.versions.items() if s is not None}
    result.details.update(published.housekeeping)


def _empty_write(spec: WapSpec, job_spec: Any, job: JobResult, execution_date: str) -> AuditResult | None:
    """A failed `expect_rows` audit result if a write job that must write rows wrote none, else None."""
    expect = getattr(job_spec, "expect_rows", None)
    if expect is False or job.rows_written != 0:
        return None
    target = getattr(job_spec, "target", None) or ", ".join(normalize_identifier(t) for t in spec.tables)
    return AuditResult(
        name=f"expect_rows[{job_spec.id}]", function="expect_rows", table=target, blocking=True, passed=False,
        failing_rows=0, sample=[],
        message=(
            f"write job '{job_spec.id}' wrote 0 rows to {target}: the source has no data for "
            f"{execution_date}, so nothing was published "
            "(set `expect_rows: false` on the job if an empty result is valid)"
        ),
        sql="",
    )


def _retention(ctx: RunContext) -> Retention:
    snapshots = ctx.config.snapshot_retention
    branches = ctx.config.wap_branch_retention
    return Retention(
        snapshots_older_than=parse_duration(snapshots.max_age) if snapshots.max_age else None,
        retain_last=snapshots.retain_last,
        branches_older_than=parse_duration(branches) if branches else None,
    )


class WapTemplate(JobType[WapSpec]):
    """The `wap` template; its write jobs are checked to write only `tables` (see the loader)."""

    name = "wap"
    SPEC = WapSpec

    @classmethod
    def check(cls, spec: WapSpec, preflight: Preflight) -> None:
        for i, table in enumerate(spec.tables):
            preflight.table(table, "tables", i)
        for write in spec.write_jobs:
            preflight.node(write.job)
        preflight.audits(spec.audits, default_table=spec.tables[0] if len(spec.tables) == 1 else None)

    @classmethod
    def run(cls, spec: WapSpec, ctx: RunContext) -> JobResult:
        return run_wap_template(spec, ctx)

    @classmethod
    def publishes(cls, spec: WapSpec) -> list[str]:
        return list(spec.tables)
