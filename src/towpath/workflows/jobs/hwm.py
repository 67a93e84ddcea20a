"""`hwm` jobs: move a table's high-water mark forward to `${EXECUTION_DATE}` so consumers can start.

The mark never moves back here: an older date (a backfill, a lookback day, a
parallel run that finished last) leaves the newer mark and says so in the job
result. Inside a daily or backfill run the step only hands its mark to the
parent, which sets each table's mark once, after every date ran.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from towpath.catalog import normalize_identifier, parse_hwm, set_hwm
from towpath.status import Status
from towpath.workflows.context import DeferredMark, RunContext
from towpath.workflows.jobs import JobType
from towpath.workflows.results import JobResult
from towpath.workflows.spec.base import JobSpec

if TYPE_CHECKING:
    from towpath.workflows.preflight import Preflight

__all__ = ["HwmJob", "HwmJobSpec"]


class HwmJobSpec(JobSpec):
    """Set a table's high-water mark (the time its data is complete up to)."""

    type: Literal["hwm"]
    table: str
    """Table as `db.table` or `catalog/db/table`."""
    hwm_datetime: str = "${EXECUTION_DATE}"
    """The mark, an ISO date or datetime (default: the execution date)."""
    hwm_timezone: str = "${EXECUTION_TIMEZONE}"
    """IANA time zone of `hwm_datetime` (default: the execution time zone)."""


class HwmJob(JobType[HwmJobSpec]):
    """Sets the mark as a table property."""

    name = "hwm"
    SPEC = HwmJobSpec

    @classmethod
    def check(cls, spec: HwmJobSpec, preflight: Preflight) -> None:
        preflight.table(spec.table, "table")
        if preflight.zone(spec.hwm_timezone, "hwm_timezone"):
            preflight.moment(spec.hwm_datetime, spec.hwm_timezone, "hwm_datetime")

    @classmethod
    def run(cls, spec: HwmJobSpec, ctx: RunContext) -> JobResult:
        started = time.perf_counter()
        table = normalize_identifier(spec.table)
        timezone = spec.hwm_timezone or ctx.params.get("EXECUTION_TIMEZONE", "UTC")
        value = spec.hwm_datetime or ctx.execution_date
        details: dict[str, Any] = {"table": table}
        warnings = []
        if ctx.deferred_marks is not None:
            mark = parse_hwm(value, timezone, where=f"step '{spec.id}'")
            ctx.catalog.table(table)  # an unknown table fails the step now, not the parent at the end
            ctx.deferred_marks.add(DeferredMark(ctx.execution_date, table, mark))
            details.update(hwm=mark.isoformat(), deferred=True)
        else:
            change = set_hwm(ctx.catalog, table, value, timezone)
            details.update(hwm=change.stored.isoformat(), requested=change.requested.isoformat())
            if change.kept_newer:
                details["kept_newer"] = True
                warnings.append(
                    f"{table}: high-water mark stays at {change.stored.isoformat()}, newer than "
                    f"{change.requested.isoformat()} (marks only move forward; "
                    "`towpath table hwm TABLE --set DATE --force` moves one back)"
                )
        return JobResult(
            job_id=spec.id, job_type="hwm", status=Status.SUCCESS, duration_s=time.perf_counter() - started,
            details=details, warnings=warnings,
        )
