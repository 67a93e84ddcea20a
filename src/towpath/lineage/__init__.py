"""Lineage room: which tables and columns feed which, down to the job and the file:line.

* `WorkflowLineage` (collect.py): what one preflight walk of a workflow learns —
  column edges (sqlglot's lineage over SQL qualified against the catalog's
  schemas, a Python job's declared or same-named columns, a pipeline's select
  and rename, a job type's own `JobType.lineage`) and uses (every place code
  names a table or column).
* `python.py`: the reads a Python/PySpark module makes, found without importing it.
* `graph.py`: the project's graph from the state room's `LineageLedger`, walked
  upstream or downstream to a depth, rendered as JSON, DOT or Mermaid.
* `external.py`: move, stream and CDC jobs (workflow steps or standalone files), with datasets
  outside the catalog named as OpenLineage names them (`kafka://host:port/topic`, ...).
* `runs.py`: dynamic lineage, what each job run read and wrote at which snapshot.
* `openlineage.py`: OpenLineage run events for every run, through openlineage-python.
"""

from towpath.lineage.collect import WorkflowLineage
from towpath.lineage.external import (
    STANDALONE_SUFFIXES,
    cdc_lineage,
    dataset_namespace,
    move_lineage,
    standalone_lineage,
    stream_lineage,
)
from towpath.lineage.graph import Hop, LineageError, LineageGraph, LineageView, Node, save_static
from towpath.lineage.openlineage import OpenLineageEmitter, run_uuid
from towpath.lineage.python import NamedColumn, TableRead, named_columns, table_reads
from towpath.lineage.runs import RunLineage

__all__ = [
    "STANDALONE_SUFFIXES",
    "Hop",
    "LineageError",
    "LineageGraph",
    "LineageView",
    "NamedColumn",
    "Node",
    "OpenLineageEmitter",
    "RunLineage",
    "TableRead",
    "WorkflowLineage",
    "cdc_lineage",
    "dataset_namespace",
    "move_lineage",
    "named_columns",
    "run_uuid",
    "save_static",
    "standalone_lineage",
    "stream_lineage",
    "table_reads",
]
