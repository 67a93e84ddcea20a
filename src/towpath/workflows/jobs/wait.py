"""`wait` jobs: block until an upstream table's high-water mark reaches a date (or time out)."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from towpath.catalog import normalize_identifier
from towpath.catalog.metadata import get_hwm
from towpath.errors import SpecError, WorkflowError
from towpath.status import Status
from towpath.workflows.context import RunContext
from towpath.workflows.jobs import JobType
from towpath.workflows.results import JobResult
from towpath.workflows.spec.base import JobSpec

if TYPE_CHECKING:
    from towpath.workflows.preflight import Preflight

__all__ = ["WaitJob", "WaitJobSpec", "hwm_reached"]


class WaitJobSpec(JobSpec):
    """Wait until a table's high-water mark reaches `until` (an upstream dependency)."""

    type: Literal["wait"]
    table: str
    """Upstream table as `db.table` or `catalog/db/table`."""
    until: str = "${EXECUTION_DATE}"
    """Date or datetime the mark must reach (default: the execution date)."""
    timeout: float = Field(default=3600, gt=0)
    """Seconds to wait before failing."""
    poll_interval: float = Field(default=30, gt=0)
    """Seconds between checks."""


def hwm_reached(hwm: dt.datetime | None, until: str) -> bool:
    """Is the mark at or past `until` (a date, or an ISO datetime)?"""
    if hwm is None:
        return False
    try:
        target = dt.datetime.fromisoformat(until)
    except ValueError:
        raise SpecError(f"expected an ISO date or datetime, got '{until}'", field="until") from None
    if len(until) <= 10:  # a plain date: compare calendar days in the mark's own timezone
        return hwm.date() >= target.date()
    if target.tzinfo is None:
        target = target.replace(tzinfo=hwm.tzinfo)
    return hwm >= target


class WaitJob(JobType[WaitJobSpec]):
    """Polls the catalog until the mark is there or the timeout passes."""

    name = "wait"
    SPEC = WaitJobSpec

    @classmethod
    def check(cls, spec: WaitJobSpec, preflight: Preflight) -> None:
        preflight.table(spec.table, "table")
        preflight.moment(spec.until, "UTC", "until")

    @classmethod
    def run(cls, spec: WaitJobSpec, ctx: RunContext) -> JobResult:
        started = time.perf_counter()
        table = normalize_identifier(spec.table)
        until = spec.until or ctx.execution_date
        deadline = time.monotonic() + float(spec.timeout)
        while True:
            hwm = get_hwm(ctx.catalog, table)
            if hwm_reached(hwm, until):
                break
            if time.monotonic() >= deadline:
                shown = hwm.isoformat() if hwm else "not set"
                raise WorkflowError(
                    f"timed out after {spec.timeout}s waiting for the high-water mark of {table} "
                    f"to reach {until} (it is {shown})"
                )
            time.sleep(min(float(spec.poll_interval), max(0.05, deadline - time.monotonic())))
        return JobResult(
            job_id=spec.id, job_type="wait", status=Status.SUCCESS, duration_s=time.perf_counter() - started,
            details={"table": table, "hwm": hwm.isoformat() if hwm else None, "until": until},
        )
