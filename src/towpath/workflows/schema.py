"""JSON Schema (draft 2020-12) of workflow files, for editors and `towpath workflow schema`.

Generated from the pydantic models, so it never drifts from what the loader
accepts; field docstrings become descriptions. It describes the canonical
shape: the seed's spellings (`type: Spark`, `spark: {...}`, `metacat: {...}`,
`data_auditor: {...}`) load fine but are not in the schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from towpath.workflows.spec import WorkflowFile

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://towpath.dev/schemas/workflow.json"


def workflow_json_schema() -> dict[str, Any]:
    """The schema of any `*.sch.yaml` (main, daily or backfill).

    >>> workflow_json_schema()["$schema"]
    'https://json-schema.org/draft/2020-12/schema'
    """
    schema = TypeAdapter(WorkflowFile).json_schema(mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        "title": "towpath workflow",
        "description": (
            "A towpath workflow file (*.sch.yaml): a main workflow (steps of one execution), "
            "a daily workflow (runs main on a schedule) or a backfill workflow (runs main over a date range)."
        ),
        **schema,
    }
