"""`RunLineage`: dynamic lineage of one workflow run — what each job run read and wrote, at which snapshot.

The runner calls it around every job run. A job's inputs are its static reads
(the preflight's lineage of the same run), each at the snapshot of `main` when
the job started; its outputs are the snapshots the job committed (the tables it
writes, with no snapshot when it wrote nothing). Both are stored in the state
room (`LineageLedger.record_run`) and sent as OpenLineage events when
configured. Nothing here may fail a run: lineage reports, it does not decide.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from towpath.errors import CatalogError, TowpathError
from towpath.lineage.collect import WorkflowLineage
from towpath.lineage.openlineage import OpenLineageEmitter, run_uuid

if TYPE_CHECKING:
    from towpath.catalog import Catalog
    from towpath.state import StateStore

__all__ = ["RunLineage"]

log = logging.getLogger("towpath.lineage")

_EVENT = {"success": "COMPLETE", "interrupted": "ABORT", "skipped": "COMPLETE"}
"""Run status -> OpenLineage event type (anything else is FAIL)."""


class RunLineage:
    def __init__(self, state: StateStore, catalog: Catalog, static: WorkflowLineage, *, run_id: str,
                 execution_date: str | None = None, emitter: OpenLineageEmitter | None = None) -> None:
        self.state, self.catalog, self.static = state, catalog, static
        self.run_id, self.execution_date, self.emitter = run_id, execution_date, emitter
        self._inputs: dict[str, dict[str, int | None]] = {}

    @property
    def workflow_id(self) -> str:
        return self.static.workflow_id

    def run_started(self) -> None:
        self._emit("START", None, "workflow")

    def run_finished(self, status: str, error: str | None = None) -> None:
        self._emit(_EVENT.get(status, "FAIL"), None, "workflow", error=error)

    def job_started(self, job_id: str, job_type: str) -> None:
        inputs = {table: self._snapshot(table) for table in self.static.tables_of(job_id, "read")}
        self._inputs[job_id] = inputs
        self._emit("START", job_id, job_type, inputs=inputs)

    def job_finished(self, job_id: str, job_type: str, status: str, snapshots: Mapping[str, int],
                     error: str | None = None) -> None:
        inputs = self._inputs.pop(job_id, {})
        outputs: dict[str, int | None] = dict.fromkeys(self.static.tables_of(job_id, "write"))
        outputs.update({_identifier(table): snapshot for table, snapshot in snapshots.items()})
        try:
            self.state.lineage.record_run(self.run_id, self.workflow_id, job_id, status=status,
                                          inputs=inputs, outputs=outputs)
        except TowpathError as exc:
            log.warning("could not record the lineage of job %s of run %s: %s", job_id, self.run_id, exc)
        columns = {table: self.static.columns_of(job_id, table) for table in outputs}
        self._emit(_EVENT.get(status, "FAIL"), job_id, job_type, inputs=inputs, outputs=outputs,
                   columns=columns, error=error)

    def _snapshot(self, table: str) -> int | None:
        if ":" in table:  # outside the catalog (`postgres:public.orders`)
            return None
        try:
            return self.catalog.snapshot_id(table)
        except CatalogError:
            return None

    def _emit(self, state: str, job_id: str | None, job_type: str, *, inputs: Mapping[str, int | None] | None = None,
              outputs: Mapping[str, int | None] | None = None,
              columns: Mapping[str, Mapping[str, list[tuple[str, str]]]] | None = None,
              error: str | None = None) -> None:
        if self.emitter is None:
            return
        parent = (run_uuid(self.run_id), self.workflow_id) if job_id else None
        self.emitter.emit(
            state, run_id=run_uuid(self.run_id, job_id), job_name=f"{self.workflow_id}.{job_id}" if job_id
            else self.workflow_id, job_type=job_type, parent=parent, inputs=inputs, outputs=outputs,
            column_lineage=columns, error=error,
            nominal_time=f"{self.execution_date}T00:00:00Z" if self.execution_date and not job_id else None,
        )


def _identifier(table: str) -> str:
    from towpath.catalog import normalize_identifier

    try:
        return normalize_identifier(table)
    except CatalogError:
        return table
