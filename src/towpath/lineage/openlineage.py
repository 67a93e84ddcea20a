"""OpenLineage run events for every workflow run and job run, through the `openlineage-python` client.

`towpath.yaml`'s `openlineage:` names the client's transport as the client reads
it — `{type: file, log_file_path: lineage.jsonl, append: true}`, `{type: console}`,
`{type: http, url: http://marquez:5000}` (Marquez's `/api/v1/lineage`) — so any
transport the client has (Kafka, composite, ...) works unchanged. Each job run
is a START and then a COMPLETE or FAIL event with its input and output datasets
(schema and version facets; column lineage on outputs) and the workflow run as
its parent. Emitting never fails a run: a transport error is logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from towpath.config import OpenLineageConfig, field_error
from towpath.lineage.external import dataset_namespace

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    from towpath.catalog import Catalog

__all__ = ["OpenLineageEmitter", "run_uuid"]

log = logging.getLogger("towpath.lineage")

PRODUCER = "https://github.com/towpath/towpath"
"""The `producer` URI of every event."""


def run_uuid(run_id: str, job_id: str | None = None) -> str:
    """A stable UUID for a towpath run (or a job of it): START and COMPLETE name the same run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"towpath:{run_id}:{job_id or ''}"))


class OpenLineageEmitter:
    """Builds OpenLineage events for towpath runs and sends them through one client."""

    def __init__(self, client: OpenLineageClient, *, namespace: str, dataset_namespace: str,
                 catalog: Catalog | None = None) -> None:
        self.client, self.namespace, self.dataset_namespace, self.catalog = client, namespace, dataset_namespace, catalog

    @classmethod
    def for_project(cls, root: Path, config: OpenLineageConfig | None, *, project_name: str,
                    catalog: Catalog | None = None) -> OpenLineageEmitter | None:
        """The emitter `openlineage:` configures, or None when it is not configured.

        Raises:
            SpecError: the transport is not one the client can build, at its `towpath.yaml` line.
        """
        if config is None:
            return None
        try:
            from openlineage.client import OpenLineageClient
        except ModuleNotFoundError:
            raise field_error(root, ("openlineage",),
                              "OpenLineage needs the openlineage-python client: pip install 'towpath[openlineage]'") from None
        transport = dict(config.transport)
        if transport.get("type") == "file" and "log_file_path" in transport:
            path = Path(str(transport["log_file_path"]))
            transport["log_file_path"] = str(path if path.is_absolute() else root / path)
            transport.setdefault("append", True)
        try:
            client = OpenLineageClient(config={"transport": transport})
            client.transport  # noqa: B018 - builds the transport now, so a bad config fails here
        except Exception as exc:  # noqa: BLE001 - the client raises bare RuntimeError/TypeError/KeyError on bad config
            raise field_error(root, ("openlineage", "transport"),
                              f"cannot build the OpenLineage transport: {exc}") from None
        return cls(client, namespace=config.namespace, dataset_namespace=config.dataset_namespace or
                   f"iceberg://{project_name}", catalog=catalog)

    # -- events -------------------------------------------------------------------------------------

    def emit(self, state: str, *, run_id: str, job_name: str, job_type: str, parent: tuple[str, str] | None = None,
             inputs: Mapping[str, int | None] | None = None, outputs: Mapping[str, int | None] | None = None,
             column_lineage: Mapping[str, Mapping[str, Sequence[tuple[str, str]]]] | None = None,
             error: str | None = None, nominal_time: str | None = None) -> None:
        """Send one run event (`START`, `COMPLETE`, `FAIL`, `ABORT`); never raises.

        Args:
            parent: (parent run id, parent job name) of a job run's workflow run.
            inputs, outputs: table -> snapshot id (None: unknown).
            column_lineage: output table -> column -> its (source table, source column)s.
        """
        try:
            event = self.event(state, run_id=run_id, job_name=job_name, job_type=job_type, parent=parent,
                               inputs=inputs or {}, outputs=outputs or {}, column_lineage=column_lineage or {},
                               error=error, nominal_time=nominal_time)
            self.client.emit(event)
        except Exception as exc:  # noqa: BLE001 - lineage is reported, never a reason for a run to fail
            log.warning("could not emit the OpenLineage %s event of %s: %s", state, job_name, exc)

    def event(self, state: str, *, run_id: str, job_name: str, job_type: str, parent: tuple[str, str] | None,
              inputs: Mapping[str, int | None], outputs: Mapping[str, int | None],
              column_lineage: Mapping[str, Mapping[str, Sequence[tuple[str, str]]]],
              error: str | None, nominal_time: str | None) -> Any:
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
        from openlineage.client.facet_v2 import error_message_run, job_type_job, nominal_time_run, parent_run

        run_facets: dict[str, Any] = {}
        if parent is not None:
            run_facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=parent[0]), job=parent_run.Job(namespace=self.namespace, name=parent[1]))
        if error:
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(message=error,
                                                                                 programmingLanguage="python")
        if nominal_time:
            run_facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(nominalStartTime=nominal_time)
        job_facets: dict[str, Any] = {"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="TOWPATH",
                                                              jobType=job_type.upper())}
        return RunEvent(
            eventType=RunState[state], eventTime=dt.datetime.now(dt.UTC).isoformat(), producer=PRODUCER,
            run=Run(runId=run_id, facets=run_facets), job=Job(namespace=self.namespace, name=job_name, facets=job_facets),
            inputs=[self._input(t, s) for t, s in inputs.items()],
            outputs=[self._output(t, s, column_lineage.get(t, {})) for t, s in outputs.items()],
        )

    def _input(self, table: str, snapshot: int | None) -> InputDataset:
        from openlineage.client.event_v2 import InputDataset

        namespace, name = self._dataset(table)
        return InputDataset(namespace=namespace, name=name, facets=self._facets(table, snapshot))

    def _output(self, table: str, snapshot: int | None, columns: Mapping[str, Sequence[tuple[str, str]]]) -> OutputDataset:
        from openlineage.client.event_v2 import OutputDataset
        from openlineage.client.facet_v2 import column_lineage_dataset as cl

        facets = self._facets(table, snapshot)
        if columns:
            facets["columnLineage"] = cl.ColumnLineageDatasetFacet(fields={
                column: cl.Fields(inputFields=[
                    cl.InputField(namespace=self._dataset(src)[0], name=self._dataset(src)[1], field=src_column)
                    for src, src_column in sources])
                for column, sources in sorted(columns.items())
            })
        namespace, name = self._dataset(table)
        return OutputDataset(namespace=namespace, name=name, facets=facets)

    def _facets(self, table: str, snapshot: int | None) -> dict[str, Any]:
        from openlineage.client.facet_v2 import dataset_version_dataset, schema_dataset

        facets: dict[str, Any] = {}
        if snapshot is not None:
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(snapshot))
        schema = self._schema(table)
        if schema:
            facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=[
                schema_dataset.SchemaDatasetFacetFields(name=name, type=kind) for name, kind in schema])
        return facets

    def _schema(self, table: str) -> list[tuple[str, str]]:
        from towpath.errors import CatalogError

        if self.catalog is None or ":" in table:
            return []
        try:
            return [(f.name, str(f.field_type)) for f in self.catalog.table(table).schema().fields]
        except CatalogError:
            return []

    def _dataset(self, table: str) -> tuple[str, str]:
        """(namespace, name): `kafka://host:9092/orders` is `orders` in `kafka://host:9092`; catalog tables
        live in the project's dataset namespace; `postgres:public.orders` (a pipeline's connector) in `postgres`."""
        external = dataset_namespace(table)
        if external is not None:
            return external
        kind, sep, _ = table.partition(":")
        return (kind, table) if sep else (self.dataset_namespace, table)
