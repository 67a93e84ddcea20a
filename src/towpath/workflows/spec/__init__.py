"""Workflow files as pydantic models, split by concern.

- `base`: what every job spec has (`JobSpec`, `WriteJobSpec`) and shared field types;
- `compat`: the seed's spellings (`type: Spark`, `spark: {...}`, `metacat:`, `data_auditor:`);
- `workflow`: steps and the main, daily and backfill file models;
- `graph`: checks on the step graph (ids, `depends_on`, cycles).

Each job type's own spec model lives with its runner in `towpath.workflows.jobs.<type>`;
the step unions are built from the job-type registry. These models hold data only;
`towpath.workflows.loader` reads files, resolves `${PARAMS}` and reports errors at
file:line:column.
"""

from towpath.workflows.spec.base import (
    JobSpec,
    WriteJobSpec,
    WriteMode,
)
from towpath.workflows.spec.compat import normalize_job
from towpath.workflows.spec.graph import graph_problems
from towpath.workflows.spec.workflow import (
    BackfillSpec,
    DailySpec,
    JobStep,
    PlacedJob,
    Step,
    TemplateStep,
    TriggerSpec,
    WorkflowFile,
    WorkflowSpec,
    WriteJobStep,
)


def build_models() -> None:
    """Build the workflow, daily and backfill models now, importing every registered job type.

    The models defer their build to first use (so plugins are in the step unions),
    which costs a new process ~0.1 s at its first `load_workflow`. A long-lived
    process (the worker, before it forks a command) pays it once here instead.
    """
    for model in (WorkflowSpec, DailySpec, BackfillSpec):
        model.model_rebuild(force=True)


__all__ = [
    "BackfillSpec",
    "DailySpec",
    "JobSpec",
    "JobStep",
    "PlacedJob",
    "Step",
    "TemplateStep",
    "TriggerSpec",
    "WorkflowFile",
    "WorkflowSpec",
    "WriteJobSpec",
    "WriteJobStep",
    "WriteMode",
    "build_models",
    "graph_problems",
    "normalize_job",
]
