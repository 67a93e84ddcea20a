"""The scale engine: PySpark over the Iceberg files the catalog plans, writing through the catalog.

No Iceberg runtime jar can be fetched here (Maven is out of reach), so Spark
never sees an Iceberg catalog. Instead towpath stays the catalog:

Reading: every `namespace.table` in a statement is planned in the catalog
(partition and metrics pruning from the WHERE, the WAP branch `refs` names),
exactly as for DuckDB, and replaced in the AST by a temporary view over
`spark.read.schema(<Iceberg schema>).parquet(*files)`. An empty table (or an
empty scan) reads as an empty DataFrame with the table's columns.

Writing: an `INSERT`, a `sql` job's SELECT with a `target`, or a pyspark
job's DataFrame is never collected. The statement's DataFrame is shaped to
the table in Spark (static partition values, column order, casts), its
executors write the Parquet data files into the table's location and the
driver commits only those files, on the `refs` branch, with
`Catalog.commit_files` (see `_spark_write`). Write-Audit-Publish (branch,
audits, publish) is the DuckDB path's, and a write is bounded by the
executors' disks, not the driver's memory. A `query()` still returns Arrow to
the caller: that is what it is for.

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

from towpath.catalog import MAIN, Catalog, ScanPlan, WriteMode, normalize_identifier
from towpath.config.project import EngineConfig
from towpath.engines._spark_session import shared_session
from towpath.engines._spark_write import spark_arrow_schema, write_frame
from towpath.engines._sql_engine import Shaping, Source, SqlEngine
from towpath.engines.base import StatementResult
from towpath.engines.insert import arity_problem, filled_columns
from towpath.errors import CatalogError, EngineError, SqlError, first_line, located
from towpath.sql import warn_deprecated

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkEngine"]

_VIEW_NAMES = itertools.count()
"""Temporary views live in the shared session: names are unique per process, not per engine."""

_SQLSTATE = re.compile(r"\s*SQLSTATE: \w+.*$")
_JAVA_CLASS = re.compile(r"^(?:[a-z]\w*\.)+[A-Z][\w$]*: ")
"""`org.apache.spark.SparkException: ` in front of a Java exception's message."""


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
        ident = normalize_identifier(identifier)
        query = exp.select("*").from_(exp.to_table(ident))
        bound = self.bind(query, refs or {}, None, 0)
        with self._lock:
            self.scans.extend(bound.scans)
        warn_deprecated(bound.aliases)
        sources = list(bound.sources.values())
        if len(sources) != 1:  # a session view: several sources behind one name
            raise EngineError(f"ctx.table() reads a catalog or registered table; '{ident}' is a view, use ctx.spark.sql")
        source = sources[0]
        if isinstance(source, ScanPlan):
            return self._frame(self.spark, source)
        return self.spark.createDataFrame(source)  # a registered Arrow table shadows the catalog table

    def write(
        self,
        identifier: str,
        data: pa.Table | pa.RecordBatchReader | Any,
        *,
        mode: WriteMode,
        refs: Mapping[str, str] | None = None,
    ) -> StatementResult:
        """Write a Spark DataFrame from the executors (see the module docstring); other data as the base class does."""
        if not _is_frame(data):
            return super().write(identifier, data, mode=mode, refs=refs)
        from pyspark.errors import PySparkException

        ident = normalize_identifier(identifier)
        branch = {normalize_identifier(k): v for k, v in (refs or {}).items()}.get(ident, MAIN)
        try:
            rows, snapshot = write_frame(self.catalog, data, ident, mode, branch=branch)
        except PySparkException as err:
            raise EngineError(f"the Spark DataFrame could not be written to {ident}: {_message(err)}") from None
        return StatementResult("insert", 0, "", table=ident, rows=rows, snapshot_id=snapshot, action=mode)

    def close(self) -> None:
        """Nothing to release: the SparkSession is shared by the process (see `_spark_session`)."""

    # -- engine hooks ---------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[SparkSession]:
        yield self.spark

    def internal_name(self, kind: str) -> str:
        return f"_towpath_{kind}_{next(_VIEW_NAMES)}"

    def _scan_source(self, plan: ScanPlan, sources: dict[str, Source]) -> exp.Table | exp.Subquery:
        internal = self.internal_name("scan")
        sources[internal] = plan
        return exp.to_table(internal)

    def _execute(
        self, spark: SparkSession, sql: str, sources: Mapping[str, Source], file: Path | str | None, line: int
    ) -> pa.Table:
        with self._statement(spark, sources, file, line):
            table = spark.sql(sql).toArrow()
            assert isinstance(table, pa.Table)
            return table

    def _write_query(
        self,
        spark: SparkSession,
        query: exp.Expression,
        ident: str,
        mode: WriteMode,
        refs: dict[str, str],
        file: Path | str | None,
        line: int,
        shaping: Shaping | None = None,
        kept: tuple[str, str, str] | None = None,
    ) -> tuple[int, int | None, str, tuple[str, ...]]:
        """Write the query's DataFrame from the executors: only data file paths and statistics reach the driver."""
        bound, sql = self._bind_query(query, refs, file, line, kept=kept)
        with self._statement(spark, bound.sources, file, line):
            frame = spark.sql(sql)
            if shaping is not None:
                frame = _shape(frame, shaping, ident, file, line)
            try:
                rows, snapshot = write_frame(self.catalog, frame, ident, mode, branch=refs.get(ident, MAIN))
            except CatalogError as err:  # a ConflictError stays one: callers retry on it
                raise located(err, file=file, line=line) from None
        return rows, snapshot, sql, bound.warnings

    @contextmanager
    def _statement(
        self, spark: SparkSession, sources: Mapping[str, Source], file: Path | str | None, line: int
    ) -> Iterator[None]:
        """`sources` as temporary views for the block; Spark's errors in it as `SqlError` at file:line."""
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        try:
            for name, source in sources.items():
                frame = self._frame(spark, source) if isinstance(source, ScanPlan) else spark.createDataFrame(source)
                frame.createTempView(name)
            try:
                yield
            finally:
                for name in sources:
                    spark.catalog.dropTempView(name)
        except (PySparkException, Py4JError) as err:
            raise SqlError(_message(err), file=file, line=line) from None

    def _frame(self, spark: SparkSession, plan: ScanPlan) -> DataFrame:
        """The files of a planned scan as a DataFrame with the table's (Iceberg) schema."""
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = from_arrow_schema(spark_arrow_schema(plan.schema))
        if not plan.files:
            return spark.createDataFrame([], schema=schema)
        if plan.evolved:  # renamed or added columns: match the files' columns by Iceberg field id, not name
            spark.conf.set("spark.sql.parquet.fieldId.read.enabled", "true")
            schema = _with_field_ids(schema, plan.schema)
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


def _shape(frame: DataFrame, shaping: Shaping, ident: str, file: Path | str | None, line: int) -> DataFrame:
    """`shape_insert` in Spark: the query's columns renamed to the ones they fill, static partition values added."""
    from pyspark.sql import functions as F

    filled = filled_columns(frame.columns, shaping.columns, shaping.target)
    if filled is None:
        raise SqlError(
            f"INSERT into {ident}: {arity_problem(frame.columns, shaping.columns, shaping.target)}", file=file, line=line
        )
    if filled != frame.columns:
        frame = frame.toDF(*filled)
    for name, value in shaping.constants.items():
        frame = frame.withColumn(name, F.lit(value.as_py()))
    return frame


def _is_frame(data: Any) -> bool:
    """A Spark DataFrame (classic or Connect), without importing pyspark for other data."""
    return type(data).__name__ == "DataFrame" and type(data).__module__.startswith("pyspark.")


def _message(err: BaseException) -> str:
    """Spark's message without the plan dump, SQLSTATE or Java stack that follow it.

    A failed job reaches Python as py4j's "An error occurred while calling
    o62.getResult." with the Java exception and its stack below: the message
    is then the deepest "Caused by" (or the exception's own line), without its class name.
    """
    text = str(err)
    if text.startswith("An error occurred while calling"):
        java = text.partition("\n")[2].lstrip(": ")
        causes = [line.removeprefix("Caused by: ") for line in java.splitlines() if line.startswith("Caused by: ")]
        text = _JAVA_CLASS.sub("", causes[-1] if causes else java)
    return _SQLSTATE.sub("", first_line(Exception(text))).rstrip(" ;")


def _with_field_ids(schema: Any, arrow: pa.Schema) -> Any:
    """`schema` (a Spark StructType) with each top-level field's Iceberg field id as `parquet.field.id`
    metadata, which Spark's Parquet reader matches on when `spark.sql.parquet.fieldId.read.enabled`."""
    from pyspark.sql.types import StructField, StructType

    fields = []
    for field, source in zip(schema.fields, arrow, strict=True):
        raw = (source.metadata or {}).get(b"PARQUET:field_id")
        metadata = {**(field.metadata or {}), "parquet.field.id": int(raw)} if raw is not None else field.metadata
        fields.append(StructField(field.name, field.dataType, field.nullable, metadata))
    return StructType(fields)
