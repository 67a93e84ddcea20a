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
        compact_every: 50           # compact small files and expire old snapshots every 50 batches
      - type: search
        index: patients
      - type: kv
        namespace: patients         # the towpath KV store (url: embedded by default), protobuf values

The `type`s are the `CDC_SOURCES` / `CDC_TARGETS` registries (`registry.py`): a
new target kind is a `TargetSpec` model here plus its implementation module, and
one registration.
"""

from __future__ import annotations

import difflib
import os
import re
from abc import abstractmethod
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from towpath.cdc.registry import CDC_SOURCES, CDC_TARGETS
from towpath.config import (
    Document,
    RegisteredUnion,
    Spec,
    invalid,
    load_yaml,
    parse_spec,
    substitute_all,
    tagged_union,
)
from towpath.errors import SpecError, TowpathError

if TYPE_CHECKING:
    from towpath.cdc.target import CdcTarget, TargetContext

__all__ = ["BatchSpec", "CdcSpec", "IcebergTargetSpec", "KvTargetSpec", "SearchTargetSpec", "SourceSpec", "TargetSpec",
           "load_cdc_spec"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRANSFORM = re.compile(r"^\s*(?:(identity|year|month|day|hour)\((\w+)\)|(bucket|truncate)\((\d+),\s*(\w+)\)|(\w+))\s*$")


class SourceSpec(Spec):
    """Where the changes come from."""

    type: str
    """A `CDC_SOURCES` name: `postgres`, or `mysql` (MariaDB / MySQL with a ROW binlog)."""
    dsn: str | None = None
    """`postgresql://user:pw@host:port/db` or `mysql://user:pw@host:port/db` (use `${VAR}` for secrets)."""
    connection: str | None = None
    """Instead of `dsn`: a PostgreSQL / MySQL / MariaDB entry of `towpath.yaml`'s `connections:` (its password
    from the environment or a file, as there)."""
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

    @model_validator(mode="after")
    def _one_address(self) -> SourceSpec:
        if (self.dsn is None) == (self.connection is None):
            raise invalid("expected exactly one of dsn and connection")
        return self

    @property
    def url(self) -> str:
        assert self.dsn is not None, "load_cdc_spec resolves a connection into its dsn"
        return self.dsn

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CDC_SOURCES:
            known = CDC_SOURCES.names()
            close = difflib.get_close_matches(value, known, n=1)
            raise invalid(f"unknown CDC source '{value}'" + (f"; did you mean '{close[0]}'?" if close else
                                                              f"; expected one of {', '.join(known)}"))
        return value


class BatchSpec(Spec):
    """When a batch of changes is applied: whichever limit comes first (a batch is one commit per target)."""

    max_rows: int = Field(default=50_000, gt=0)
    max_seconds: float = Field(default=2.0, gt=0)


class TargetSpec(Spec):
    """One entry of `targets:`; its `type` names the kind in `CDC_TARGETS`."""

    type: str

    @abstractmethod
    def open(self, context: TargetContext) -> CdcTarget:
        """The target this entry describes, ready to report its position and apply batches."""

    def lake_tables(self) -> list[str]:
        """Lake tables the target writes (what a workflow's later steps may read)."""
        return []


class IcebergTargetSpec(TargetSpec):
    """A lake table merged on the primary key: one commit per batch, carrying the source position."""

    type: Literal["iceberg"]
    table: str
    """`namespace.table` in the project catalog, created from the source's columns when missing."""
    partition_by: list[str] = Field(default_factory=list)
    """Iceberg transforms for a new table: `identity(col)`/`col`, `bucket(N, col)`, `truncate(N, col)`, `day(col)`..."""
    compact_every: int = Field(default=100, ge=0)
    """Compact every N batches (0: never): each partition's small files rewritten into one when it has at
    least `compact_min_files` of them (`towpath.catalog.compact`), then snapshots older than an hour expired
    (each batch is one)."""
    compact_min_files: int = Field(default=8, ge=2)
    """A partition is rewritten once it has this many small files."""

    def open(self, context: TargetContext) -> CdcTarget:
        from towpath.cdc.to_iceberg import IcebergTarget

        return IcebergTarget(context.catalog, self)

    def lake_tables(self) -> list[str]:
        return [self.table]

    @field_validator("partition_by")
    @classmethod
    def _transforms(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _TRANSFORM.match(item):
                raise invalid(f"expected col, identity(col), year|month|day|hour(col), bucket(N, col) or "
                              f"truncate(N, col), got '{item}'")
        return value


class SearchTargetSpec(TargetSpec):
    """An embedded full-text index under `.towpath/search/<index>/`, queried by `towpath search`."""

    type: Literal["search"]
    index: str

    def open(self, context: TargetContext) -> CdcTarget:
        from towpath.cdc.to_search import SearchTarget

        return SearchTarget(context.root, self.index)

    @field_validator("index")
    @classmethod
    def _index_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise invalid(f"expected a name of letters, digits and _, got '{value}'")
        return value


class KvTargetSpec(TargetSpec):
    """A towpath KV namespace: each key put (protobuf key and value messages) or deleted, the position beside it."""

    type: Literal["kv"]
    namespace: str
    """The namespace written (created when missing); a schema `towpath move` recorded for it is reused."""
    url: str = "embedded"
    """What `towpath.kv.open_store` opens: `embedded`, `redis://...`, `postgresql://...`, the KV service
    `http://...` / `grpc://...` (use `${VAR}` for secrets)."""
    token: str | None = None
    """The KV service's token, if it asks for one (`${VAR}`)."""
    value_columns: list[str] | None = None
    """Columns of the value message (default: every column not in the key)."""
    schema_file: str | None = None
    """Where to write the namespace's protobuf schema as JSON, for a `connections:` KV table (project-relative;
    default `.towpath/cdc/<namespace>.schema.json`)."""

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,150}$", value):
            raise invalid(f"expected a KV namespace name (letters, digits, _ . -), got '{value}'")
        return value

    def open(self, context: TargetContext) -> CdcTarget:
        from towpath.cdc.to_kv import KvTarget

        return KvTarget(context, self)


@cache
def _target_union() -> Any:
    return tagged_union({name: model for name, model in CDC_TARGETS.items()}, suffix="target",
                        error_type="invalid_cdc_target",
                        message=f"expected a CDC target type: {', '.join(CDC_TARGETS.names())}")


def _pick_target(data: Any) -> type[TargetSpec] | None:
    kind = data.get("type") if isinstance(data, dict) else None
    return CDC_TARGETS.get(kind) if isinstance(kind, str) and kind in CDC_TARGETS else None


Target = Annotated[TargetSpec, RegisteredUnion(_target_union, _pick_target)]
"""One entry of `targets:`, validated as the model its `type` names."""


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
    """Read a `*.cdc.yaml`; `${VAR}`s come from the environment, and every mistake names file:line:col.

    A `source.connection` is resolved here, against the `towpath.yaml` of the
    project holding the spec, into the source's URL.
    """
    doc = load_yaml(path)
    data = substitute_all(doc.data, os.environ, where=str(path))
    if isinstance(data, dict):
        data = {**data, "file": str(path)}
    spec = parse_spec(CdcSpec, doc, data)
    if spec.source.connection is not None:
        url = _connection_url(spec, doc)
        spec = spec.model_copy(update={"source": spec.source.model_copy(update={"dsn": url})})
    return spec


def _connection_url(spec: CdcSpec, doc: Document) -> str:
    from towpath.config import find_project_root, load_project_config

    name = spec.source.connection
    assert name is not None
    line, col = doc.locate(("source", "connection"))

    def error(message: str) -> SpecError:
        return SpecError(message, file=Path(spec.file), line=line, col=col, field="source.connection")

    try:
        root = find_project_root(Path(spec.file).resolve().parent)
    except TowpathError:
        raise error(f"connection '{name}' needs the spec inside a towpath project (no towpath.yaml above it)") from None
    connections = load_project_config(root).connections
    entry = connections.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(connections), n=1)
        raise error(f"no connection '{name}' in {root / 'towpath.yaml'}" +
                    (f"; did you mean '{close[0]}'?" if close else f"; it has {', '.join(connections) or 'none'}"))
    url = getattr(entry, "url", None)
    scheme = {"postgres": "postgresql", "mysql": "mysql"}.get(spec.source.type)
    if not callable(url) or getattr(entry, "URL_SCHEME", None) != scheme:
        raise error(f"connection '{name}' is a {entry.type} connection; a {spec.source.type} source needs a "
                    f"{'postgres' if scheme == 'postgresql' else 'mysql or mariadb'} one")
    text: str = url(root, name)
    return text
