"""`hwm` jobs: move a table's high-water mark to `${EXECUTION_DATE}` so consumers can start."""

from __future__ import annotations

import time
from typing import Any

from towpath.catalog import normalize_identifier
from towpath.catalog.metadata import set_hwm
from towpath.workflows.context import RunContext
from towpath.workflows.results import JobResult


def run_hwm_job(spec: Any, ctx: RunContext) -> JobResult:
    started = time.perf_counter()
    table = normalize_identifier(spec.table)
    timezone = spec.hwm_timezone or ctx.params.get("EXECUTION_TIMEZONE", "UTC")
    value = set_hwm(ctx.catalog, table, spec.hwm_datetime or ctx.execution_date, timezone)
    return JobResult(
        job_id=spec.id, job_type="hwm", status="success", duration_s=time.perf_counter() - started,
        details={"table": table, "hwm": value.isoformat()},
    )
