"""Job types by name. A new job type is one module here plus one entry in `JOB_TYPES`.

Each runner takes its validated spec and the run's `RunContext` and returns a
`JobResult`; it raises a `TowpathError` on failure (the runner records it).
Runners are imported on first use, so loading a workflow never pays for job
types it does not run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from towpath.errors import UnknownNameError
from towpath.workflows.context import RunContext
from towpath.workflows.results import JobResult

JobRunner = Callable[[Any, RunContext], JobResult]

JOB_TYPES: dict[str, str] = {
    "sql": "towpath.workflows.jobs.sql:run_sql_job",
    "python": "towpath.workflows.jobs.python:run_python_job",
    "pyspark": "towpath.workflows.jobs.python:run_python_job",
    "metadata": "towpath.workflows.jobs.metadata:run_metadata_job",
    "audit": "towpath.workflows.jobs.audit:run_audit_job",
    "hwm": "towpath.workflows.jobs.hwm:run_hwm_job",
    "wait": "towpath.workflows.jobs.wait:run_wait_job",
    "wap": "towpath.workflows.jobs.wap:run_wap_template",
}
"""Job type -> `module:function` of its runner."""


def get_job_runner(job_type: str) -> JobRunner:
    """The runner of `job_type`; an unknown type raises `UnknownNameError` with the closest name."""
    try:
        module, _, function = JOB_TYPES[job_type].partition(":")
    except KeyError:
        raise UnknownNameError("job type", job_type, JOB_TYPES) from None
    runner: JobRunner = getattr(importlib.import_module(module), function)
    return runner
