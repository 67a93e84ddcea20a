"""`metadata` jobs: owner, tags, lifetime, column types and description on tables.

A step changes only the fields it names: a step without `tags` leaves the tags
an earlier step (or a person) set.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, model_validator

from towpath.catalog import normalize_identifier
from towpath.catalog.metadata import set_metadata
from towpath.config import invalid
from towpath.status import Status
from towpath.workflows.context import RunContext
from towpath.workflows.jobs import JobType
from towpath.workflows.results import JobResult
from towpath.workflows.spec.base import JobSpec

if TYPE_CHECKING:
    from towpath.workflows.preflight import Preflight

__all__ = ["MetadataJob", "MetadataJobSpec"]


class MetadataJobSpec(JobSpec):
    """Set table metadata: owner, tags, lifetime, column types, description."""

    type: Literal["metadata"]
    table: str | None = None
    """Table as `db.table` or `catalog/db/table`."""
    tables: list[str] = Field(default_factory=list)
    """Several tables at once (instead of `table`)."""
    owner: str | None = None
    """Owning user or team."""
    tags: list[str] = Field(default_factory=list)
    """Free-form labels."""
    lifetime: int | None = Field(default=None, ge=0)
    """Days to keep data (recorded as a table property)."""
    column_types: dict[str, str] = Field(default_factory=dict)
    """Column roles, e.g. `{date: pk, country_code: pk}`."""
    description: str | None = None
    """What the table holds."""

    @model_validator(mode="after")
    def _some_table(self) -> MetadataJobSpec:
        if not self.table and not self.tables:
            raise invalid("give 'table' or 'tables'")
        return self

    @property
    def all_tables(self) -> list[str]:
        """`table` and `tables` together."""
        return ([self.table] if self.table else []) + [t for t in self.tables if t != self.table]


class MetadataJob(JobType[MetadataJobSpec]):
    """Writes table properties only, never data."""

    name = "metadata"
    SPEC = MetadataJobSpec

    FIELDS: ClassVar[dict[str, str]] = {
        "owner": "owner", "tags": "tags", "lifetime": "lifetime_days", "column_types": "column_types",
        "description": "description",
    }
    """Spec field -> `set_metadata` argument."""

    @classmethod
    def check(cls, spec: MetadataJobSpec, preflight: Preflight) -> None:
        if spec.table:
            preflight.table(spec.table, "table")
        for i, table in enumerate(spec.tables):
            preflight.table(table, "tables", i)

    @classmethod
    def lineage(cls, spec: MetadataJobSpec, preflight: Preflight) -> None:
        """`column_types` names columns of each table (a rename must change those keys too)."""
        for table in spec.all_tables:
            ident = preflight.identifier(table)
            if ident is None:
                continue
            for column in spec.column_types:
                preflight.lineage.read(preflight.job, ident, column.lower(), file=preflight.spec.path,
                                       line=preflight.line_of("column_types", column))

    @classmethod
    def run(cls, spec: MetadataJobSpec, ctx: RunContext) -> JobResult:
        started = time.perf_counter()
        named = {arg: getattr(spec, name) for name, arg in cls.FIELDS.items() if name in spec.model_fields_set}
        tables = [normalize_identifier(t) for t in spec.all_tables]
        for table in tables:
            set_metadata(ctx.catalog, table, **named)
        return JobResult(
            job_id=spec.id, job_type="metadata", status=Status.SUCCESS, duration_s=time.perf_counter() - started,
            details={"tables": tables, "fields": sorted(named)},
        )
