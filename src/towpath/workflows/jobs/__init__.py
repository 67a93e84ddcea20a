"""Job types by name. A new job type is one module here plus one entry in `JOB_TYPES`.

Each runner takes its validated spec and the run's `RunContext` and returns a
`JobResult`; it raises a `TowpathError` on failure (the runner records it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from towpath.errors import UnknownNameError
from towpath.workflows.context import RunContext
from towpath.workflows.results import JobResult

JobRunner = Callable[[Any, RunContext], JobResult]


def _sql(spec: Any, ctx: RunContext) -> JobResult:
    from towpath.workflows.jobs.sql import run_sql_job

    return run_sql_job(spec, ctx)


def _python(spec: Any, ctx: RunContext) -> JobResult:
    from towpath.workflows.jobs.python import run_python_job

    return run_python_job(spec, ctx)


def _metadata(spec: Any, ctx: RunContext) -> JobResult:
    from towpath.workflows.jobs.metadata import run_metadata_job

    return run_metadata_job(spec, ctx)


def _audit(spec: Any, ctx: RunContext) -> JobResult:
    from towpath.workflows.jobs.audit import run_audit_job

    return run_audit_job(spec, ctx)


def _hwm(spec: Any, ctx: RunContext) -> JobResult:
    from towpath.workflows.jobs.hwm import run_hwm_job

    return run_hwm_job(spec, ctx)


def _wait(spec: Any, ctx: RunContext) -> JobResult:
    from towpath.workflows.jobs.wait import run_wait_job

    return run_wait_job(spec, ctx)


def _wap(spec: Any, ctx: RunContext) -> JobResult:
    from towpath.workflows.jobs.wap import run_wap_template

    return run_wap_template(spec, ctx)


JOB_TYPES: dict[str, JobRunner] = {
    "sql": _sql,
    "python": _python,
    "pyspark": _python,
    "metadata": _metadata,
    "audit": _audit,
    "hwm": _hwm,
    "wait": _wait,
    "wap": _wap,
}


def get_job_runner(job_type: str) -> JobRunner:
    try:
        return JOB_TYPES[job_type]
    except KeyError:
        raise UnknownNameError("job type", job_type, JOB_TYPES) from None
