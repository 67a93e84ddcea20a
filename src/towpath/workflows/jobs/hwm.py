"""`hwm` jobs: move a table's high-water mark to `${EXECUTION_DATE}` so consumers can start."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from towpath.catalog import normalize_identifier
from towpath.catalog.metadata import set_hwm
from towpath.workflows.context import RunContext
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
        value = set_hwm(ctx.catalog, table, spec.hwm_datetime or ctx.execution_date, timezone)
        return JobResult(
            job_id=spec.id, job_type="hwm", status="success", duration_s=time.perf_counter() - started,
            details={"table": table, "hwm": value.isoformat()},
        )
