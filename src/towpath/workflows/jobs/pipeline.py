"""`pipeline` jobs: a source -> transforms -> sink pipeline declared in the workflow file.

```yaml
- job:
    id: load_orders
    type: pipeline
    source: {type: postgres, dsn: "${PG_DSN}", table: public.orders}
    transforms:
      - {type: validate, required: [id], ranges: {amount: {min: 0}}}
      - {type: select, columns: [id, amount, day]}
    sink: {type: iceberg, table: sales.orders, mode: dynamic_overwrite}
    errors: {type: parquet, path: rejected/orders.parquet}   # rows Validate refused (default: counted only)
```

Sources and sinks are the registered connectors (`towpath.connectors.CONNECTORS`).
Inside a WAP template an `iceberg` sink writes the template's branch, so the
template's audits see the rows before anything reaches `main`; a sink outside
the catalog is refused there (it could not be held back).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from towpath.config import invalid
from towpath.connectors import ConnectorEnv, SinkSpec, SourceSpec, connector_field
from towpath.errors import PipelineError, WorkflowError, first_line
from towpath.status import Status
from towpath.workflows.jobs import JobType, Write
from towpath.workflows.results import JobResult
from towpath.workflows.spec.base import SpecModel, WriteJobSpec

if TYPE_CHECKING:
    from towpath.pipeline import Processor
    from towpath.workflows.context import RunContext
    from towpath.workflows.preflight import Preflight

__all__ = ["PipelineJob", "PipelineJobSpec"]

Scalar = str | int | float | bool


class RangeSpec(SpecModel):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _a_bound(self) -> RangeSpec:
        if self.min is None and self.max is None:
            raise invalid("give 'min', 'max' or both")
        return self


class ValidateSpec(SpecModel):
    """Per-row rules; a row that breaks any goes to the job's `errors` sink, the rest flow on."""

    type: Literal["validate"]
    required: list[str] = Field(default_factory=list)
    """Columns that must be present and not null (nor blank)."""
    ranges: dict[str, RangeSpec] = Field(default_factory=dict)
    """`{column: {min: 0, max: 100}}` (nulls pass)."""
    one_of: dict[str, list[Scalar]] = Field(default_factory=dict)
    """`{column: [allowed, values]}` (nulls pass)."""
    regex: dict[str, str] = Field(default_factory=dict)
    """`{column: pattern}`: the whole value matches (RE2 syntax; nulls pass)."""

    @model_validator(mode="after")
    def _a_rule(self) -> ValidateSpec:
        if not (self.required or self.ranges or self.one_of or self.regex):
            raise invalid("give at least one rule: required, ranges, one_of or regex")
        return self

    def processor(self) -> Processor:
        from towpath.pipeline import OneOf, Range, Regex, Required, Rule, Validate

        rules: list[Rule] = [Required(*self.required)] if self.required else []
        rules += [Range(c, min=r.min, max=r.max) for c, r in self.ranges.items()]
        rules += [OneOf(c, v) for c, v in self.one_of.items()]
        rules += [Regex(c, p) for c, p in self.regex.items()]
        return Validate(*rules)


class SelectSpec(SpecModel):
    """Keep only these columns, in this order."""

    type: Literal["select"]
    columns: list[str] = Field(min_length=1)

    def processor(self) -> Processor:
        from towpath.pipeline import Select

        return Select(self.columns)


class RenameSpec(SpecModel):
    """Rename columns: `{old: new}`."""

    type: Literal["rename"]
    columns: dict[str, str] = Field(min_length=1)

    def processor(self) -> Processor:
        from towpath.pipeline import Rename

        return Rename(self.columns)


Transform = Annotated[ValidateSpec | SelectSpec | RenameSpec, Field(discriminator="type")]
"""One entry of `transforms`."""


class PipelineJobSpec(WriteJobSpec):
    """Move rows from a source through transforms into a sink, as one concurrent pipeline."""

    type: Literal["pipeline"]
    source: Annotated[SourceSpec, connector_field("source")]
    """Where rows come from: a connector (`postgres`, `mysql`, `sqlite`, `csv`, `jsonl`, `parquet`, `iceberg`)."""
    transforms: list[Transform] = Field(default_factory=list)
    """Applied in order: `validate`, `select`, `rename`."""
    sink: Annotated[SinkSpec, connector_field("sink")]
    """Where rows go: a connector; `iceberg` writes the project catalog (the WAP branch inside a template)."""
    errors: Annotated[SinkSpec, connector_field("sink")] | None = None
    """Where rows refused by `validate` go, with the reasons (default: counted in the job's details)."""


class PipelineJob(JobType[PipelineJobSpec]):
    """Builds a `towpath.pipeline.Pipeline` from the spec and runs it."""

    name = "pipeline"
    SPEC = PipelineJobSpec
    WRITES_IN_WAP = True

    @classmethod
    def run(cls, spec: PipelineJobSpec, ctx: RunContext) -> JobResult:
        from towpath.connectors import CONNECTORS
        from towpath.pipeline import Pipeline, ProcessorFailedError

        started = time.perf_counter()
        env = ConnectorEnv(catalog=ctx.catalog, refs=ctx.refs, base=ctx.workflow_dir)
        source = CONNECTORS.get(spec.source.type).source(spec.source, env)
        sink = CONNECTORS.get(spec.sink.type).sink(spec.sink, env)
        errors = CONNECTORS.get(spec.errors.type).sink(spec.errors, env) if spec.errors else None
        stages: list[Any] = [source, *(t.processor() for t in spec.transforms), sink]
        pipeline = Pipeline(stages, name=spec.id, errors=errors)
        try:
            stats = pipeline.run()
        except ProcessorFailedError as exc:
            cause = exc.__cause__ or exc
            raise WorkflowError(f"pipeline job '{spec.id}' failed: {first_line(cause)}") from exc
        except PipelineError as exc:
            raise WorkflowError(f"pipeline job '{spec.id}' failed: {first_line(exc)}") from exc
        return JobResult(
            job_id=spec.id, job_type="pipeline", status=Status.SUCCESS, duration_s=time.perf_counter() - started,
            rows_written=stats.rows_written,
            details={"rows_read": stats.rows_read, "rows_rejected": stats.rows_error, "sink": spec.sink.type},
        )

    @classmethod
    def writes(cls, spec: PipelineJobSpec, workflow_dir: Path, params: Mapping[str, str]) -> list[Write]:
        """The sink's catalog table; a sink outside the catalog is named `<connector>:<where>` so a WAP
        template (which can only hold back catalog tables) refuses it."""
        table = spec.sink.catalog_table()
        if table is not None:
            return [Write(table, "sink")]
        where = getattr(spec.sink, "table", None) or getattr(spec.sink, "path", "")
        return [Write(f"{spec.sink.type}:{where}", "sink")]

    @classmethod
    def lineage(cls, spec: PipelineJobSpec, preflight: Preflight) -> None:
        """Source -> sink, column by column through the `select` and `rename` transforms.

        A source or sink outside the catalog is the dataset `<connector>:<table or path>`.
        """
        source = _dataset(spec.source, preflight)
        [write] = cls.writes(spec, Path.cwd(), {})
        target = preflight.identifier(write.table) if spec.sink.catalog_table() else write.table
        if source is None or target is None:
            return
        job, path = preflight.job, preflight.spec.path
        preflight.lineage.read(job, source, file=path, line=preflight.line_of("source"))
        preflight.lineage.write(job, target, file=path, line=preflight.line_of("sink"))
        known = preflight.tables.get(source)
        columns: dict[str, str] | None = {c: c for c in known} if known is not None else None
        for i, transform in enumerate(spec.transforms):
            if isinstance(transform, SelectSpec):
                for k, name in enumerate(transform.columns):
                    origin = columns.get(name.lower(), name.lower()) if columns is not None else name.lower()
                    preflight.lineage.read(job, source, origin, file=path,
                                           line=preflight.line_of("transforms", i, "columns", k))
                columns = {c.lower(): (columns or {}).get(c.lower(), c.lower()) for c in transform.columns}
            elif isinstance(transform, RenameSpec) and columns is not None:
                renames = {old.lower(): new.lower() for old, new in transform.columns.items()}
                columns = {renames.get(out, out): origin for out, origin in columns.items()}
        target_columns = preflight.tables.get(target)
        if columns is None and target_columns is not None:
            columns = {c: c for c in target_columns}  # no schema to follow: same-named columns
        if columns is None:
            preflight.lineage.edge(job, source, None, target, None, kind="table", file=path,
                                   line=preflight.line_of("sink"))
            return
        for out, origin in columns.items():
            if target_columns is None or out in target_columns:
                preflight.lineage.edge(job, source, origin, target, out, kind="declared", file=path,
                                       line=preflight.line_of("transforms") or preflight.line_of("sink"))

    @classmethod
    def plan(cls, spec: PipelineJobSpec, workflow_dir: Path, params: Mapping[str, str]) -> str | None:
        steps = [spec.source.type, *(t.type for t in spec.transforms), spec.sink.type]
        return " -> ".join(steps)


def _dataset(source: SourceSpec, preflight: Preflight) -> str | None:
    """The catalog table an `iceberg` source reads, else `<connector>:<table or path>`."""
    table = getattr(source, "table", None) or getattr(source, "path", None) or getattr(source, "query", None)
    if source.type == "iceberg" and isinstance(table, str):
        return preflight.identifier(table)
    return f"{source.type}:{table}" if table else source.type
