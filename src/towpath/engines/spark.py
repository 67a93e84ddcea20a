"""The scale engine: PySpark over the Iceberg files the catalog plans, writing through the catalog.

No Iceberg runtime jar can be fetched here (Maven is out of reach), so Spark
never sees an Iceberg catalog. Instead towpath stays the catalog:

Reading: every `namespace.table` in a statement is planned in the catalog
(partition and metrics pruning from the WHERE, the WAP branch `refs` names),
exactly as for DuckDB, and replaced in the AST by a temporary view over
`spark.read.schema(<Iceberg schema>).parquet(*files)`. An empty table (or an
empty scan) reads as an empty DataFrame with the table's columns.

Writing: a statement's result is collected as Arrow (`DataFrame.toArrow()`)
and committed with `Catalog.write` on the `refs` branch, the same path as
DuckDB, so Write-Audit-Publish (branch, audits, publish) is unchanged.
Collecting on the driver bounds a write by the driver's memory: fine for
daily partitions of the size towpath's samples write, not for terabytes.

Audits run on this engine too (they arrive as DuckDB SQL and are transpiled),
so the branch is checked by the engine that wrote it.

Sessions: one SparkSession per process (`_spark_session.shared_session`),
started lazily on first use; `close()` leaves it running for other engines.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from towpath.catalog import Catalog, ScanPlan
from towpath.config.project import EngineConfig
from towpath.engines._spark_session import shared_session
from towpath.engines._sql_engine import Source, SqlEngine
from towpath.errors import EngineError, SqlError, first_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkEngine"]

_VIEW_NAMES = itertools.count()
"""Temporary views live in the shared session: names are unique per process, not per engine."""

_SQLSTATE = re.compile(r"\s*SQLSTATE: \w+.*$")


class SparkEngine(SqlEngine["SparkSession"]):
    """`Engine` on PySpark; see the module docstring for how reads and writes work."""

    name: ClassVar[str] = "spark"
    dialect: ClassVar[str] = "spark"

    def __init__(self, config: EngineConfig, catalog: Catalog) -> None:
        super().__init__(catalog)
        self.config = config

    @property
    def spark(self) -> SparkSession:
        """The process's shared SparkSession (started on first use)."""
        return shared_session(self.config.spark)

    def dataframe(self, identifier: str, *, refs: Mapping[str, str] | None = None) -> DataFrame:
        """A table as a Spark DataFrame, read at the branch `refs` names for it (pyspark jobs' `ctx.table`).

        The scan is planned without a filter; Spark prunes rows itself, and
        partition pruning of a DataFrame read happens when the job filters it.
        """
        from towpath.catalog import normalize_identifier

        ident = normalize_identifier(identifier)
        query = exp.select("*").from_(exp.to_table(ident))
        bound = self.bind(query, refs or {}, None, 0)
        with self._lock:
            self.scans.extend(bound.scans)
        sources = list(bound.sources.values())
        if len(sources) != 1:  # a session view: several sources behind one name
            raise EngineError(f"ctx.table() reads a catalog or registered table; '{ident}' is a view, use ctx.spark.sql")
        source = sources[0]
        if isinstance(source, ScanPlan):
            return self._frame(self.spark, source)
        return self.spark.createDataFrame(source)  # a registered Arrow table shadows the catalog table

    def close(self) -> None:
        """Nothing to release: the SparkSession is shared by the process (see `_spark_session`)."""

    # -- engine hooks ---------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[SparkSession]:
        yield self.spark

    def internal_name(self, kind: str) -> str:
        return f"_towpath_{kind}_{next(_VIEW_NAMES)}"

    def _scan_source(self, plan: ScanPlan, sources: dict[str, Source]) -> exp.Table:
        internal = self.internal_name("scan")
        sources[internal] = plan
        return exp.to_table(internal)

    def _execute(
        self, spark: SparkSession, sql: str, sources: Mapping[str, Source], file: Path | str | None, line: int
    ) -> pa.Table:
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        try:
            for name, source in sources.items():
                frame = self._frame(spark, source) if isinstance(source, ScanPlan) else spark.createDataFrame(source)
                frame.createTempView(name)
            try:
                return spark.sql(sql).toArrow()
            finally:
                for name in sources:
                    spark.catalog.dropTempView(name)
        except (PySparkException, Py4JError) as err:
            raise SqlError(_message(err), file=file, line=line) from None

    def _frame(self, spark: SparkSession, plan: ScanPlan) -> DataFrame:
        """The files of a planned scan as a DataFrame with the table's (Iceberg) schema."""
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = from_arrow_schema(_plain(plan.schema))
        if not plan.files:
            return spark.createDataFrame([], schema=schema)
        return spark.read.schema(schema).parquet(*plan.files)

    def to_arrow(self, data: Any) -> pa.Table:
        if isinstance(data, pa.Table):
            return data
        if isinstance(data, pa.RecordBatchReader):
            return data.read_all()
        if isinstance(data, pa.RecordBatch):
            return pa.Table.from_batches([data])
        if callable(getattr(data, "toArrow", None)):  # a Spark DataFrame
            from pyspark.errors import PySparkException

            try:
                table = data.toArrow()
            except PySparkException as err:
                raise EngineError(f"the Spark DataFrame could not be computed: {_message(err)}") from None
            assert isinstance(table, pa.Table)
            return table
        try:
            return pa.table(data)  # Polars, pandas, DuckDB relations: anything with __arrow_c_stream__
        except (TypeError, ValueError, pa.ArrowException) as err:
            raise EngineError(
                f"cannot write a {type(data).__name__}: expected a Spark DataFrame, an Arrow table or reader, "
                f"or a Polars or pandas DataFrame ({err})"
            ) from None


def _plain(schema: pa.Schema) -> pa.Schema:
    """`schema` with large string/binary types as plain ones (Spark's Arrow conversion knows both; be safe)."""
    fields = []
    for field in schema:
        kind = field.type
        if pa.types.is_large_string(kind):
            kind = pa.string()
        elif pa.types.is_large_binary(kind):
            kind = pa.binary()
        fields.append(pa.field(field.name, kind, field.nullable))
    return pa.schema(fields)


def _message(err: BaseException) -> str:
    """Spark's message without the plan dump, SQLSTATE or Java stack that follow it."""
    return _SQLSTATE.sub("", first_line(err)).rstrip(" ;")
