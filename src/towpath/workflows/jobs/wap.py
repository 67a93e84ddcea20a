"""The `wap` template: Write to a branch, Audit the branch, Publish by fast-forwarding main.

Each attempt cuts its own branch per table from `main`. A failing blocking
audit publishes nothing and keeps the branch. If another writer moved `main`
meanwhile, publish refuses (the branch no longer descends from `main`); we
drop the stale branch and redo the attempt on the new `main`, up to
`max_attempts`, so parallel backfills of different dates converge.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from towpath.audits import AuditSpec
from towpath.catalog import normalize_identifier
from towpath.catalog.branches import create_branch, drop_branch, publish_branch
from towpath.catalog.history import expire_snapshots
from towpath.config.params import parse_duration
from towpath.errors import CatalogError, ConflictError, WorkflowError
from towpath.workflows.context import RunContext
from towpath.workflows.jobs import JobType, get_job_type
from towpath.workflows.jobs.audit import apply_audit_results, execute_audits
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
    tables = [normalize_identifier(t) for t in spec.tables]
    result = JobResult(job_id=spec.id, job_type="wap", status="success")
    for attempt in range(1, spec.max_attempts + 1):
        branch = branch_name(ctx, spec.id, attempt)
        try:
            _write_audit_publish(spec, ctx, tables, branch, result)
        except ConflictError as exc:
            _drop_all(ctx, tables, branch)
            if attempt == spec.max_attempts:
                raise WorkflowError(
                    f"WAP '{spec.id}' could not publish after {attempt} attempts because other writers kept "
                    f"moving main: {exc}"
                ) from exc
            log.info("WAP %s: main moved during attempt %d, retrying on the new main: %s", spec.id, attempt, exc)
            continue
        except BaseException:
            _drop_all(ctx, tables, branch)
            raise
        result.details["attempt"] = attempt
        break
    result.duration_s = time.perf_counter() - started
    return result


def _write_audit_publish(spec: WapSpec, ctx: RunContext, tables: list[str], branch: str, result: JobResult) -> None:
    """One attempt: cut `branch` of every table, write, audit; publish unless a blocking audit failed.

    A blocking failure returns with the branch kept; a `ConflictError` means `main`
    moved and the caller may retry on a fresh branch.
    """
    for table in tables:
        create_branch(ctx.catalog, table, branch)
    refs = dict.fromkeys(tables, branch)
    wap_ctx = ctx.with_refs(refs)
    write_results = [
        get_job_type(step.job.type).run(step.job, wap_ctx.with_params(step.job.parameters or {}))
        for step in spec.write_jobs
    ]
    result.rows_written = sum(r.rows_written or 0 for r in write_results)
    result.details = {"branch": branch, "write_jobs": [r.job_id for r in write_results]}
    audits = execute_audits(spec.audits, ctx, spec.id, default_table=tables[0] if len(tables) == 1 else None, refs=refs)
    apply_audit_results(result, audits, branch=branch)
    if result.status == "audit_failed":
        return
    for table in tables:
        snapshot = publish_branch(ctx.catalog, table, branch)
        if snapshot is not None:
            result.snapshots[table] = snapshot
    _expire_history(ctx, tables, result)


def _expire_history(ctx: RunContext, tables: list[str], result: JobResult) -> None:
    """Apply the project's snapshot retention after a publish (each WAP run adds snapshots)."""
    retention = ctx.project.config.snapshot_retention
    if retention.max_age is None:
        return
    age = parse_duration(retention.max_age)
    expired = {t: len(expire_snapshots(ctx.catalog, t, older_than=age, retain_last=retention.retain_last)) for t in tables}
    if any(expired.values()):
        result.details["expired_snapshots"] = expired


def _drop_all(ctx: RunContext, tables: list[str], branch: str) -> None:
    for table in tables:
        try:
            drop_branch(ctx.catalog, table, branch)
        except CatalogError:  # the attempt may have failed before this table's branch existed
            log.debug("no branch %s of %s to drop", branch, table)


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
