"""Connectors by name, each with pydantic models of its source and sink parameters, so YAML can name them.

A `ConnectorType` says how to build a pipeline `Source` and/or `Sink` from a
validated spec (`{type: postgres, dsn: ..., table: public.orders}`). The
`pipeline` workflow job, and the `move`/`stream` jobs after it, read
`CONNECTORS`; a package adds a connector under the entry-point group
`towpath.connectors`. The connector classes themselves stay in their modules
and are imported only when a pipeline is built.

>>> CONNECTORS.names()
['csv', 'iceberg', 'jsonl', 'kafka', 'mysql', 'parquet', 'postgres', 'sqlite']
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from towpath.config import RegisteredUnion, Spec, invalid, tagged_union
from towpath.errors import ConnectorError
from towpath.registry import Registry, import_object
from towpath.streaming import Format as KafkaFormat
from towpath.streaming import JsonFormat
from towpath.streaming import SourceConfig as KafkaConnection
from towpath.write_modes import SqlWriteMode, TableWriteMode

if TYPE_CHECKING:
    from towpath.catalog import Catalog
    from towpath.pipeline import Sink, Source

__all__ = [
    "CONNECTORS",
    "ConnectorEnv",
    "ConnectorSpec",
    "ConnectorType",
    "Role",
    "SinkSpec",
    "SourceSpec",
    "connector_field",
]


class ConnectorSpec(Spec):
    """What every connector spec has: the connector's registered name."""

    model_config = ConfigDict(use_attribute_docstrings=True, defer_build=True)

    type: str
    """The connector (`postgres`, `iceberg`, `parquet`, ...)."""


class SourceSpec(ConnectorSpec):
    """Where a pipeline reads."""


class SinkSpec(ConnectorSpec):
    """Where a pipeline writes."""

    def catalog_table(self) -> str | None:
        """The catalog table the sink writes (None: it writes outside the catalog, so not through a WAP)."""
        return None


@dataclass(frozen=True)
class ConnectorEnv:
    """What the caller hands connectors: the project catalog and the WAP branches to read and write."""

    catalog: Catalog | None = None
    refs: Mapping[str, str] = field(default_factory=dict)
    """`db.table` -> branch (inside a WAP template)."""
    base: Path | None = None
    """Folder that relative file paths are relative to (the workflow file's)."""

    def path(self, value: str) -> str:
        """A file connector's `path`: URLs (`s3://...`) and absolute paths as given, others under `base`."""
        if "://" in value or self.base is None or Path(value).is_absolute():
            return value
        return str(self.base / value)


SrcT = TypeVar("SrcT", bound=SourceSpec)
SinkT = TypeVar("SinkT", bound=SinkSpec)


class ConnectorType(Generic[SrcT, SinkT]):
    """One connector: its parameter models and how to build its source and sink."""

    name: ClassVar[str]
    SOURCE: ClassVar[type[SourceSpec] | None] = None
    """Parameters of the connector as a source (None: it cannot read)."""
    SINK: ClassVar[type[SinkSpec] | None] = None
    """Parameters of the connector as a sink (None: it cannot write)."""

    @classmethod
    def source(cls, spec: SrcT, env: ConnectorEnv) -> Source:
        raise ConnectorError(f"connector '{cls.name}' cannot be a source")

    @classmethod
    def sink(cls, spec: SinkT, env: ConnectorEnv) -> Sink:
        raise ConnectorError(f"connector '{cls.name}' cannot be a sink")


def _need_catalog(env: ConnectorEnv, what: str) -> Catalog:
    if env.catalog is None:
        raise ConnectorError(f"the {what} needs the project's catalog")
    return env.catalog


# -- SQL databases ---------------------------------------------------------------------------------


class DatabaseSourceSpec(SourceSpec):
    """A table or a query of a SQL database."""

    table: str | None = None
    """`table` or `schema.table` to read whole (exclusive with `query`)."""
    query: str | None = None
    """A SELECT to run instead of a table."""
    columns: list[str] = Field(default_factory=list)
    """With `table`: read only these columns."""
    batch_size: int = Field(default=65_536, gt=0)
    """Rows per batch."""

    @model_validator(mode="after")
    def _one_of(self) -> DatabaseSourceSpec:
        if (self.table is None) == (self.query is None):
            raise invalid("give exactly one of 'table' and 'query'")
        return self


class DatabaseSinkSpec(SinkSpec):
    """A table of a SQL database, written in one transaction."""

    table: str
    """Target `table` or `schema.table`."""
    mode: SqlWriteMode = "append"
    """`append`, `overwrite` (the table then holds exactly the written rows) or `merge` on `key`."""
    key: list[str] = Field(default_factory=list)
    """Columns identifying a row (required for `merge`)."""
    create: bool = True
    """Create the table from the first batch's schema when it does not exist."""


class ServerSourceSpec(DatabaseSourceSpec):
    dsn: str
    """Connection URI, e.g. `postgresql://user:pw@host:5432/db` (use `${PARAM}` for secrets)."""


class ServerSinkSpec(DatabaseSinkSpec):
    dsn: str
    """Connection URI."""


class PostgresSourceSpec(ServerSourceSpec):
    type: Literal["postgres"]


class PostgresSinkSpec(ServerSinkSpec):
    type: Literal["postgres"]


class ServerDatabase(ConnectorType[ServerSourceSpec, ServerSinkSpec]):
    """A database server reached by DSN; subclasses name their `Source`/`Sink` classes (imported on use)."""

    SOURCE_CLASS: ClassVar[str]
    """`module:Class` of the pipeline source."""
    SINK_CLASS: ClassVar[str]
    """`module:Class` of the pipeline sink."""

    @classmethod
    def source(cls, spec: ServerSourceSpec, env: ConnectorEnv) -> Source:
        source: Source = import_object(cls.SOURCE_CLASS)(
            spec.dsn, table=spec.table, query=spec.query, columns=spec.columns, batch_size=spec.batch_size,
        )
        return source

    @classmethod
    def sink(cls, spec: ServerSinkSpec, env: ConnectorEnv) -> Sink:
        sink: Sink = import_object(cls.SINK_CLASS)(spec.dsn, spec.table, mode=spec.mode, key=spec.key, create=spec.create)
        return sink


class Postgres(ServerDatabase):
    """PostgreSQL through COPY (the `postgres` extra)."""

    name = "postgres"
    SOURCE = PostgresSourceSpec
    SINK = PostgresSinkSpec
    SOURCE_CLASS = "towpath.connectors.postgres:PostgresSource"
    SINK_CLASS = "towpath.connectors.postgres:PostgresSink"


class MySqlSourceSpec(ServerSourceSpec):
    type: Literal["mysql"]


class MySqlSinkSpec(ServerSinkSpec):
    type: Literal["mysql"]


class MySql(ServerDatabase):
    """MySQL / MariaDB (the `mysql` extra)."""

    name = "mysql"
    SOURCE = MySqlSourceSpec
    SINK = MySqlSinkSpec
    SOURCE_CLASS = "towpath.connectors.mysql:MySqlSource"
    SINK_CLASS = "towpath.connectors.mysql:MySqlSink"


class SqliteSourceSpec(DatabaseSourceSpec):
    type: Literal["sqlite"]
    path: str
    """The database file."""


class SqliteSinkSpec(DatabaseSinkSpec):
    type: Literal["sqlite"]
    path: str
    """The database file (created when missing)."""


class Sqlite(ConnectorType[SqliteSourceSpec, SqliteSinkSpec]):
    """A SQLite file."""

    name = "sqlite"
    SOURCE = SqliteSourceSpec
    SINK = SqliteSinkSpec

    @classmethod
    def source(cls, spec: SqliteSourceSpec, env: ConnectorEnv) -> Source:
        from towpath.connectors.sqlite import SqliteSource

        return SqliteSource(env.path(spec.path), table=spec.table, query=spec.query, columns=spec.columns,
                            batch_size=spec.batch_size)

    @classmethod
    def sink(cls, spec: SqliteSinkSpec, env: ConnectorEnv) -> Sink:
        from towpath.connectors.sqlite import SqliteSink

        return SqliteSink(env.path(spec.path), spec.table, mode=spec.mode, key=spec.key, create=spec.create)


# -- files ------------------------------------------------------------------------------------------


class FileSpec(ConnectorSpec):
    path: str
    """A local path or an fsspec URL (`s3://bucket/key`)."""
    storage_options: dict[str, Any] = Field(default_factory=dict)
    """fsspec options (endpoint, credentials)."""


class CsvSourceSpec(SourceSpec, FileSpec):
    type: Literal["csv"]
    delimiter: str = ","
    header: bool = True
    """Whether the first line names the columns."""


class CsvSinkSpec(SinkSpec, FileSpec):
    type: Literal["csv"]
    delimiter: str = ","
    header: bool = True


class Csv(ConnectorType[CsvSourceSpec, CsvSinkSpec]):
    name = "csv"
    SOURCE = CsvSourceSpec
    SINK = CsvSinkSpec

    @classmethod
    def source(cls, spec: CsvSourceSpec, env: ConnectorEnv) -> Source:
        from towpath.connectors.files import CsvSource

        return CsvSource(env.path(spec.path), delimiter=spec.delimiter, header=spec.header,
                         storage_options=spec.storage_options)

    @classmethod
    def sink(cls, spec: CsvSinkSpec, env: ConnectorEnv) -> Sink:
        from towpath.connectors.files import CsvSink

        return CsvSink(env.path(spec.path), delimiter=spec.delimiter, header=spec.header, storage_options=spec.storage_options)


class JsonLinesSourceSpec(SourceSpec, FileSpec):
    type: Literal["jsonl"]


class JsonLinesSinkSpec(SinkSpec, FileSpec):
    type: Literal["jsonl"]


class JsonLines(ConnectorType[JsonLinesSourceSpec, JsonLinesSinkSpec]):
    name = "jsonl"
    SOURCE = JsonLinesSourceSpec
    SINK = JsonLinesSinkSpec

    @classmethod
    def source(cls, spec: JsonLinesSourceSpec, env: ConnectorEnv) -> Source:
        from towpath.connectors.files import JsonLinesSource

        return JsonLinesSource(env.path(spec.path), storage_options=spec.storage_options)

    @classmethod
    def sink(cls, spec: JsonLinesSinkSpec, env: ConnectorEnv) -> Sink:
        from towpath.connectors.files import JsonLinesSink

        return JsonLinesSink(env.path(spec.path), storage_options=spec.storage_options)


class ParquetSourceSpec(SourceSpec, FileSpec):
    type: Literal["parquet"]
    columns: list[str] = Field(default_factory=list)
    """Read only these columns (default: all)."""


class ParquetSinkSpec(SinkSpec, FileSpec):
    type: Literal["parquet"]
    compression: str = "snappy"


class Parquet(ConnectorType[ParquetSourceSpec, ParquetSinkSpec]):
    name = "parquet"
    SOURCE = ParquetSourceSpec
    SINK = ParquetSinkSpec

    @classmethod
    def source(cls, spec: ParquetSourceSpec, env: ConnectorEnv) -> Source:
        from towpath.connectors.files import ParquetSource

        return ParquetSource(env.path(spec.path), columns=spec.columns or None, storage_options=spec.storage_options)

    @classmethod
    def sink(cls, spec: ParquetSinkSpec, env: ConnectorEnv) -> Sink:
        from towpath.connectors.files import ParquetSink

        return ParquetSink(env.path(spec.path), compression=spec.compression, storage_options=spec.storage_options)


# -- the project's Iceberg tables ------------------------------------------------------------------


class IcebergSourceSpec(SourceSpec):
    type: Literal["iceberg"]
    table: str
    """`db.table` of the project catalog (read at the WAP branch when the table has one)."""
    row_filter: str | None = None
    """A filter like `day = '2024-01-02'`, used for pruning as well."""
    columns: list[str] = Field(default_factory=list)
    """Read only these columns (default: all)."""


class IcebergSinkSpec(SinkSpec):
    type: Literal["iceberg"]
    table: str
    """`db.table` of the project catalog (must exist); inside a WAP template the branch is written."""
    mode: TableWriteMode = "append"
    """`append`, `overwrite` (all rows) or `dynamic_overwrite` (the partitions written)."""

    def catalog_table(self) -> str | None:
        return self.table


class Iceberg(ConnectorType[IcebergSourceSpec, IcebergSinkSpec]):
    """A table of the project catalog, committed once at the end (to the WAP branch inside a template)."""

    name = "iceberg"
    SOURCE = IcebergSourceSpec
    SINK = IcebergSinkSpec

    @classmethod
    def source(cls, spec: IcebergSourceSpec, env: ConnectorEnv) -> Source:
        from towpath.catalog import normalize_identifier
        from towpath.connectors.iceberg import IcebergSource

        ref = env.refs.get(normalize_identifier(spec.table))
        return IcebergSource(_need_catalog(env, "iceberg source"), spec.table, row_filter=spec.row_filter,
                             columns=spec.columns or None, ref=ref)

    @classmethod
    def sink(cls, spec: IcebergSinkSpec, env: ConnectorEnv) -> Sink:
        from towpath.catalog import MAIN, normalize_identifier
        from towpath.connectors.iceberg import IcebergSink

        branch = env.refs.get(normalize_identifier(spec.table), MAIN)
        return IcebergSink(_need_catalog(env, "iceberg sink"), spec.table, mode=spec.mode, branch=branch)


class KafkaSourceSpec(SourceSpec):
    """A Kafka topic read from `source.start` to its current end (bounded: a pipeline reads what is there)."""

    type: Literal["kafka"]
    source: KafkaConnection
    """`bootstrap_servers`, `topics` or `topic_pattern`, `security`, `settings`, `start` (as in `*.stream.yaml`)."""
    format: KafkaFormat = Field(default_factory=lambda: JsonFormat(type="json"))
    """`{type: json}` or `{type: csv, columns: [...], delimiter: ","}`."""
    batch_size: int = Field(default=50_000, gt=0)
    """Messages per Arrow batch."""


class Kafka(ConnectorType[KafkaSourceSpec, SinkSpec]):
    name = "kafka"
    SOURCE = KafkaSourceSpec

    @classmethod
    def source(cls, spec: KafkaSourceSpec, env: ConnectorEnv) -> Source:
        from towpath.connectors.kafka import KafkaSource

        return KafkaSource(spec.source, spec.format, base=env.base or Path.cwd(), batch_size=spec.batch_size)


CONNECTORS: Registry[type[ConnectorType[Any, Any]]] = Registry("connector", group="towpath.connectors")
"""Every connector by name."""
for _connector in (Csv, Iceberg, JsonLines, Kafka, MySql, Parquet, Postgres, Sqlite):
    CONNECTORS.register(_connector.name, _connector)


Role = Literal["source", "sink"]
"""Which side of a pipeline a connector spec describes."""


def _models(role: Role) -> dict[str, type[BaseModel]]:
    out: dict[str, type[BaseModel]] = {}
    for name, connector in CONNECTORS.items():
        model = connector.SOURCE if role == "source" else connector.SINK
        if model is not None:
            out[name] = model
    return out


@functools.cache
def _union(role: Role) -> Any:
    members = _models(role)
    return tagged_union(
        members, suffix=role, error_type=f"unknown_{role}",
        message=f"unknown {role} connector; expected one of: {', '.join(members)}",
    )


def _pick(role: Role, data: Any) -> type[BaseModel] | None:
    name = data.get("type") if isinstance(data, Mapping) else None
    return _models(role).get(name) if isinstance(name, str) else None


def connector_field(role: Role) -> RegisteredUnion:
    """Annotation marker for a spec field holding a source or sink: `Annotated[SinkSpec, connector_field("sink")]`."""
    return RegisteredUnion(functools.partial(_union, role), functools.partial(_pick, role))
