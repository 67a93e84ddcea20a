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
    "graph_problems",
    "normalize_job",
]
