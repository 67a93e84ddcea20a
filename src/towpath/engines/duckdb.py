"""The default engine: in-process DuckDB over the Iceberg files the catalog plans.

Reading: every `namespace.table` in a query is planned in the catalog with the
row filter `pruning.row_filter` derives from the query's WHERE, then replaced
in the AST by `read_parquet([...pruned files...])`. DuckDB then reads exactly
those files with its own vectorised reader; no row passes through Python.
Writing: a query's result comes back as Arrow and goes to `Catalog.write`, on
the branch `refs` names for that table.

Threads: the engine owns one in-memory DuckDB database. Each `query` and each
`run_script` works on its own `cursor()` (a connection to the same database),
so several threads may query at once. Arrow tables handed to `register` are
registered on each cursor that needs them, because DuckDB registrations are
per connection.

Statements, views, INSERT shaping and writes are shared with the Spark engine
in `_sql_engine.SqlEngine`; this module holds only what is DuckDB's own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from sqlglot import exp

from towpath.catalog import Catalog, ScanPlan
from towpath.config.project import EngineConfig
from towpath.engines._sql_engine import Source, SqlEngine
from towpath.errors import EngineError, SqlError, first_line

__all__ = ["DuckDBEngine"]


class DuckDBEngine(SqlEngine[duckdb.DuckDBPyConnection]):
    """`Engine` on embedded DuckDB; see the module docstring for how reads and writes work."""

    name: ClassVar[str] = "duckdb"
    dialect: ClassVar[str] = "duckdb"

    def __init__(self, config: EngineConfig, catalog: Catalog) -> None:
        settings: dict[str, Any] = {}
        if config.threads:
            settings["threads"] = config.threads
        if config.memory_limit:
            settings["memory_limit"] = config.memory_limit
        try:
            self._conn = duckdb.connect(":memory:", config=settings)
        except duckdb.Error as err:
            raise EngineError(f"cannot start DuckDB with {settings}: {first_line(err)}") from None
        super().__init__(catalog)

    def close(self) -> None:
        self._conn.close()

    # -- engine hooks ---------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = self._conn.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def _scan_source(self, plan: ScanPlan, sources: dict[str, Source]) -> exp.Table:
        if plan.files and not all(_is_local(f) for f in plan.files):
            # An object-store warehouse (s3://...): DuckDB's own S3 support (httpfs) is an
            # extension we cannot install, so it scans a pyarrow dataset on the catalog's
            # file system instead, with projection and filter pushdown all the same.
            internal = self.internal_name("remote")
            sources[internal] = remote_dataset(self.catalog, plan)
            return exp.to_table(internal)
        if plan.files:
            files = exp.Array(expressions=[exp.Literal.string(f) for f in plan.files])
            return exp.Table(this=exp.func("read_parquet", files, dialect=self.dialect))
        # read_parquet([]) is an error; an empty Arrow table has the right columns and types
        internal = self.internal_name("empty")
        sources[internal] = plan.schema.empty_table()
        return exp.to_table(internal)

    def _execute(
        self, cursor: duckdb.DuckDBPyConnection, sql: str, sources: Mapping[str, Source], file: Path | str | None, line: int
    ) -> pa.Table:
        try:
            for name, data in sources.items():
                assert isinstance(data, pa.Table | ds.Dataset), "DuckDB inlines local scans as read_parquet"
                cursor.register(name, data)
            try:
                return cursor.sql(sql).to_arrow_table()
            finally:
                for name in sources:
                    cursor.unregister(name)
        except duckdb.Error as err:
            raise SqlError(first_line(err), file=file, line=line) from None

    def to_arrow(self, data: Any) -> pa.Table:
        return _to_arrow(data)


def _is_local(location: str) -> bool:
    return location.startswith("file:") or "://" not in location


def remote_dataset(catalog: Catalog, plan: ScanPlan) -> ds.Dataset:
    """The planned files of a table on object storage, as a dataset on the catalog's file system."""
    from pyiceberg.io.pyarrow import PyArrowFileIO

    io = catalog.table(plan.identifier).io
    if not isinstance(io, PyArrowFileIO):
        raise EngineError(
            f"cannot read '{plan.identifier}' at {plan.files[0]}: the catalog's file IO is "
            f"{type(io).__name__}; set `py-io-impl: pyiceberg.io.pyarrow.PyArrowFileIO` in catalog.properties"
        )
    scheme, netloc, _ = PyArrowFileIO.parse_location(plan.files[0])
    paths = [PyArrowFileIO.parse_location(f)[2] for f in plan.files]
    return ds.dataset(paths, schema=plan.schema, format="parquet", filesystem=io.fs_by_scheme(scheme, netloc))


def _to_arrow(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, duckdb.DuckDBPyRelation):
        return data.to_arrow_table()
    try:
        return pa.table(data)  # Polars, pandas and anything with __arrow_c_stream__
    except (TypeError, ValueError, pa.ArrowException) as err:
        raise EngineError(
            f"cannot write a {type(data).__name__}: expected an Arrow table or reader, a Polars or pandas "
            f"DataFrame, or a DuckDB relation ({err})"
        ) from None
