"""The default engine: in-process DuckDB over the Iceberg files the catalog plans.

Reading: every `namespace.table` in a query is planned in the catalog with the
row filter `pruning.row_filter` derives from the query's WHERE, then replaced
in the AST by `read_parquet([...pruned files...])`. DuckDB then reads exactly
those files with its own vectorised reader; no row passes through Python. On
S3 the files are read by DuckDB's httpfs (loaded from its wheel, offline) with
a secret per bucket built from the table's file IO properties; other object
stores go through a pyarrow dataset on the catalog's file system.
Writing: a query's result comes back as Arrow and goes to `Catalog.write`, on
the branch `refs` names for that table.

Threads: the engines of a process share one in-memory DuckDB database per
setting of threads and memory (`_database`); each engine holds a connection to
it, and each `query` and each `run_script` works on its own `cursor()`, so
several threads may query at once. Arrow tables handed to `register` are
registered on each cursor that needs them, because DuckDB registrations are
per connection.

Statements, views, INSERT shaping and writes are shared with the Spark engine
in `_sql_engine.SqlEngine`; this module holds only what is DuckDB's own.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from duckdb.sqltypes import DuckDBPyType
from sqlglot import exp
from sqlglot.errors import SqlglotError

from towpath.catalog import Catalog, ScanPlan
from towpath.config.project import EngineConfig
from towpath.engines._sql_engine import Source, SqlEngine
from towpath.engines.extensions import extension_path, load_extension
from towpath.errors import EngineError, SqlError, first_line

__all__ = ["DuckDBEngine"]


_DATABASES: dict[tuple[int, tuple[tuple[str, Any], ...]], duckdb.DuckDBPyConnection] = {}
_DATABASES_LOCK = threading.Lock()
_SECRET_NUMBERS = itertools.count()
"""Secrets live in the shared database: each engine's get names no other engine's can replace."""


def _database(settings: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """This process's in-memory DuckDB database for `settings`, opened on first use and kept.

    Every engine of a process (each `Project.run` makes one) connects to the same
    database, so a scheduler, a worker command, a backfill or a notebook keeps
    DuckDB's caches of the files it read (Parquet metadata and data in its
    external file cache) from one run to the next and opens and closes DuckDB
    once: 25 ms of every seed run, and its reads are warm (the raw baseline's
    repeated query on one connection is 35 ms faster than on a new one). Nothing
    of a run stays behind for the next: an engine's views and registrations are
    its own (in Python and on its own connection), SET statements are ignored,
    and its S3 secrets are named apart. The price is memory the process keeps:
    DuckDB's cached file data (~90 MiB after the 10M-row seed run), in its buffer
    pool, which evicts it under the engine's `memory_limit`. Keyed by process id, so a forked child
    opens its own: DuckDB's threads do not survive a fork.
    """
    key = (os.getpid(), tuple(sorted(settings.items())))
    with _DATABASES_LOCK:
        if (database := _DATABASES.get(key)) is None:
            try:
                database = _DATABASES[key] = duckdb.connect(":memory:", config=settings)
            except duckdb.Error as err:
                raise EngineError(f"cannot start DuckDB with {settings}: {first_line(err)}") from None
        return database


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
        self._conn = _database(settings).cursor()
        super().__init__(catalog)
        self._setup: list[str] = []
        """What `session_setup` returns: the httpfs load and one secret per S3 bucket read so far."""
        self._secrets: set[tuple[str, ...]] = set()

    def close(self) -> None:
        self._conn.close()

    def _native_s3(self, plan: ScanPlan) -> bool:
        """Whether DuckDB's httpfs can read `plan`'s files: on S3, with credentials the table's file IO names."""
        scheme, _, rest = plan.files[0].partition("://")
        if scheme not in _S3_SCHEMES or not importlib.util.find_spec("duckdb_extension_httpfs"):
            return False
        props = dict(self.catalog.table(plan.identifier).io.properties)
        key, secret = props.get("s3.access-key-id"), props.get("s3.secret-access-key")
        if not key or not secret:
            return False
        bucket = rest.split("/", 1)[0]
        endpoint = props.get("s3.endpoint", "")
        facts = (bucket, key, secret, props.get("s3.session-token", ""), props.get("s3.region", ""), endpoint)
        with self._lock:
            if facts in self._secrets:
                return True
            if not self._setup:
                load_extension(self._conn, "httpfs")
                self._setup.append(f"LOAD {exp.Literal.string(str(extension_path('httpfs'))).sql('duckdb')}")
            options = {"KEY_ID": key, "SECRET": secret, "SESSION_TOKEN": facts[3], "REGION": facts[4],
                       "SCOPE": f"s3://{bucket}"}
            if endpoint:
                host = endpoint.split("://", 1)[-1].rstrip("/")
                options.update(ENDPOINT=host, URL_STYLE="path")
            listed = ", ".join(f"{k} {exp.Literal.string(v).sql('duckdb')}" for k, v in options.items() if v)
            ssl = "" if not endpoint else f", USE_SSL {'true' if endpoint.startswith('https') else 'false'}"
            statement = f"CREATE OR REPLACE SECRET towpath_s3_{next(_SECRET_NUMBERS)} (TYPE s3, {listed}{ssl})"
            self._conn.execute(statement)
            self._setup.append(statement)
            self._secrets.add(facts)
            return True

    # -- engine hooks ---------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = self._conn.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def session_setup(self) -> list[str]:
        """Statements another DuckDB connection needs to read what `bind` returns (httpfs, S3 secrets).

        They hold credentials: run them, never log them.
        """
        with self._lock:
            return list(self._setup)

    def _scan_source(self, plan: ScanPlan, sources: dict[str, Source]) -> exp.Table | exp.Subquery:
        if plan.files and not all(_is_local(f) for f in plan.files):
            if self._native_s3(plan):
                # httpfs (from its wheel) reads the planned s3:// files itself, in 0.3-0.65x the time of
                # the pyarrow path below on the same files (benchmarks/bench_duckdb_extensions.py).
                files = exp.Array(expressions=[exp.Literal.string(_s3_url(f)) for f in plan.files])
                return exp.Table(this=exp.func("read_parquet", files, dialect=self.dialect))
            # Other object stores (gs://, abfs://...), or S3 without explicit credentials: a pyarrow
            # dataset on the catalog's file system, with projection and filter pushdown all the same.
            internal = self.internal_name("remote")
            sources[internal] = remote_dataset(self.catalog, plan)
            return exp.to_table(internal)
        if plan.files:
            files = exp.Array(expressions=[exp.Literal.string(f) for f in plan.files])
            args: list[exp.Expr] = [files]
            if plan.evolved:  # renamed or added columns: map the files' Iceberg field ids to today's names
                args.append(exp.EQ(this=exp.column("schema"), expression=_field_id_map(plan.schema)))
            return exp.Table(this=exp.func("read_parquet", *args, dialect=self.dialect))
        # read_parquet([]) is an error: no file (a filter pruned them all) reads as an empty relation
        try:
            return exp.Subquery(this=_empty_select(plan.schema).copy())
        except (SqlglotError, duckdb.Error):  # a type the SQL cannot spell: an empty Arrow table has it
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


_S3_SCHEMES = ("s3", "s3a", "s3n")


def _s3_url(location: str) -> str:
    """`s3a://` and `s3n://` (Hadoop's names) as the `s3://` httpfs reads."""
    scheme, _, rest = location.partition("://")
    return f"s3://{rest}" if scheme in _S3_SCHEMES else location


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


@functools.lru_cache(maxsize=256)
def _empty_select(schema: pa.Schema) -> exp.Select:
    """`SELECT CAST(NULL AS <type>) AS <column>, ... WHERE FALSE` for `schema`, in DuckDB's types.

    In the SQL rather than an empty Arrow table registered for the query, which cost
    0.4 ms a scan to register and unregister. Such scans are common: an audit's null
    check of a clean partition, or its look for the partition before the first one.
    """
    return exp.select(*(
        exp.alias_(exp.cast(exp.null(), exp.DataType.build(str(kind), dialect="duckdb")), name, quoted=True)
        for name, kind in zip(schema.names, _duckdb_types(schema), strict=True)
    )).where(exp.false())


def _duckdb_types(schema: pa.Schema) -> list[DuckDBPyType]:
    """DuckDB's types for `schema`'s columns (asked of the module's default connection, one thread at a time)."""
    with _TYPES_LOCK:
        return duckdb.from_arrow(schema.empty_table()).types


_TYPES_LOCK = threading.Lock()


def _field_id_map(schema: pa.Schema) -> exp.Expr:
    """`MAP {field id: {name, type, default_value}}` for read_parquet's `schema`: DuckDB then reads each
    file's columns by Iceberg field id, so a renamed column reads under its new name and a column added
    after a file was written reads as NULL from it."""
    types = _duckdb_types(schema)
    entries = []
    for field, kind in zip(schema, types, strict=True):
        field_id = (field.metadata or {}).get(b"PARQUET:field_id")
        if field_id is None:
            continue
        entries.append(exp.PropertyEQ(this=exp.Literal.number(int(field_id)), expression=exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.to_identifier("name"), expression=exp.Literal.string(field.name)),
            exp.PropertyEQ(this=exp.to_identifier("type"), expression=exp.Literal.string(str(kind))),
            exp.PropertyEQ(this=exp.to_identifier("default_value"), expression=exp.Null()),
        ])))
    return exp.ToMap(this=exp.Struct(expressions=entries))
