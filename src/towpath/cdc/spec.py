"""`*.cdc.yaml`: one source table, the change stream's batching, and any combination of targets.

    name: patients
    source:
      type: postgres                # or mysql (MariaDB / MySQL with a ROW binlog)
      dsn: ${PATIENTS_DSN}          # from the environment, never printed
      table: public.patients
    batch: {max_rows: 50000, max_seconds: 2}
    targets:
      - type: iceberg
        table: lake.patients
        partition_by: ["bucket(8, id)"]
        compact_every: 50           # expire old snapshots every 50 batches
      - type: search
        index: patients
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from towpath.config import Spec, invalid, load_yaml, parse_spec, substitute_all

__all__ = ["BatchSpec", "CdcSpec", "IcebergTargetSpec", "SearchTargetSpec", "SourceSpec", "load_cdc_spec"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRANSFORM = re.compile(r"^\s*(?:(identity|year|month|day|hour)\((\w+)\)|(bucket|truncate)\((\d+),\s*(\w+)\)|(\w+))\s*$")


class SourceSpec(Spec):
    """Where the changes come from."""

    type: Literal["postgres", "mysql"]
    dsn: str
    """`postgresql://user:pw@host:port/db` or `mysql://user:pw@host:port/db` (use `${VAR}` for secrets)."""
    table: str
    """`schema.table` (PostgreSQL) or `database.table` (MySQL); a bare name uses `public` / the DSN's database."""
    primary_key: list[str] | None = None
    """Columns to merge on; default: the table's primary key."""
    slot: str | None = None
    """PostgreSQL replication slot (default `towpath_<name>`); it holds the WAL not yet applied."""
    publication: str | None = None
    """PostgreSQL publication (default `towpath_<name>`), created for the table when missing."""
    server_id: int = Field(default=5701, ge=1)
    """MySQL: the replica server id this job uses (unique among a source's replicas)."""


class BatchSpec(Spec):
    """When a batch of changes is applied: whichever limit comes first (a batch is one commit per target)."""

    max_rows: int = Field(default=50_000, gt=0)
    max_seconds: float = Field(default=2.0, gt=0)


class IcebergTargetSpec(Spec):
    """A lake table merged on the primary key: one commit per batch, carrying the source position."""

    type: Literal["iceberg"]
    table: str
    """`namespace.table` in the project catalog, created from the source's columns when missing."""
    partition_by: list[str] = Field(default_factory=list)
    """Iceberg transforms for a new table: `identity(col)`/`col`, `bucket(N, col)`, `truncate(N, col)`, `day(col)`..."""
    compact_every: int = Field(default=100, ge=0)
    """Expire old snapshots every N batches (0: never); each batch is a snapshot."""

    @field_validator("partition_by")
    @classmethod
    def _transforms(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _TRANSFORM.match(item):
                raise invalid(f"expected col, identity(col), year|month|day|hour(col), bucket(N, col) or "
                              f"truncate(N, col), got '{item}'")
        return value


class SearchTargetSpec(Spec):
    """An embedded full-text index under `.towpath/search/<index>/`, queried by `towpath search`."""

    type: Literal["search"]
    index: str

    @field_validator("index")
    @classmethod
    def _index_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise invalid(f"expected a name of letters, digits and _, got '{value}'")
        return value


Target = Annotated[IcebergTargetSpec | SearchTargetSpec, Field(discriminator="type")]


class CdcSpec(Spec):
    """A change-data-capture job: one source table into one or more targets, exactly once."""

    name: str
    source: SourceSpec
    targets: list[Target] = Field(min_length=1)
    batch: BatchSpec = BatchSpec()
    file: str = ""
    """The spec's path (set by `load_cdc_spec`, for messages)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise invalid(f"expected a name of letters, digits and _, got '{value}'")
        return value

    @property
    def slot(self) -> str:
        return (self.source.slot or f"towpath_{self.name}").lower()

    @property
    def publication(self) -> str:
        return (self.source.publication or f"towpath_{self.name}").lower()


def parse_transform(text: str) -> tuple[str, str, int | None]:
    """`bucket(8, id)` -> ("bucket", "id", 8); `day(ts)` -> ("day", "ts", None); `id` -> ("identity", "id", None)."""
    m = _TRANSFORM.match(text)
    assert m is not None, "validated by IcebergTargetSpec"
    if m.group(1):
        return m.group(1), m.group(2), None
    if m.group(3):
        return m.group(3), m.group(5), int(m.group(4))
    return "identity", m.group(6), None


def load_cdc_spec(path: Path | str) -> CdcSpec:
    """Read a `*.cdc.yaml`; `${VAR}`s come from the environment, and every mistake names file:line:col."""
    doc = load_yaml(path)
    data = substitute_all(doc.data, os.environ, where=str(path))
    if isinstance(data, dict):
        data = {**data, "file": str(path)}
    return parse_spec(CdcSpec, doc, data)
