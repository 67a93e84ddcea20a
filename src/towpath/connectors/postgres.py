"""PostgreSQL source and sink (psycopg 3), moving data as CSV through `COPY`.

Why CSV `COPY` rather than a cursor: rows never become Python objects. The
source streams `COPY (query) TO STDOUT` into pyarrow's C++ CSV reader with the
column types taken from the query's result description, so memory stays at a
few blocks whatever the table size. The sink renders each Arrow batch with
pyarrow's CSV writer and streams it into `COPY ... FROM STDIN`. pyarrow quotes
strings and leaves nulls empty, which is exactly how PostgreSQL's CSV format
tells NULL from the empty string.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlglot import exp

from towpath.connectors._sql import (
    POSTGRES,
    Backend,
    DatabaseAuthError,
    DatabaseSink,
    DatabaseSource,
    DatabaseTransientError,
    DatabaseUnreachableError,
    ErrorRule,
    Resource,
    UnknownObjectError,
    column,
    create_staging,
    delete_all,
    drop_table,
    insert_select,
    map_errors,
    on_conflict_update,
    rebatch,
    select_from,
    table_expr,
)
from towpath.errors import ConnectorError

try:
    import psycopg
    from psycopg import errors as pgerrors
    from psycopg import sql as pgsql
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConnectorError("the PostgreSQL connectors need psycopg: pip install 'towpath[postgres]'") from exc

_BOOL, _INT8, _INT2, _INT4, _OID = 16, 20, 21, 23, 26
_FLOAT4, _FLOAT8, _NUMERIC = 700, 701, 1700
_DATE, _TIMESTAMP, _TIMESTAMPTZ = 1082, 1114, 1184

PG_TYPES: dict[int, pa.DataType] = {
    _BOOL: pa.bool_(),
    _INT2: pa.int16(),
    _INT4: pa.int32(),
    _INT8: pa.int64(),
    _OID: pa.int64(),
    _FLOAT4: pa.float32(),
    _FLOAT8: pa.float64(),
    _DATE: pa.date32(),
    _TIMESTAMP: pa.timestamp("us"),
    _TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
}
"""PostgreSQL type OID -> Arrow type. Anything else (text, json, uuid, arrays...) arrives as its text form."""

_SESSION = ("SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, YMD'")
"""Pin the text forms COPY produces, whatever the server's defaults."""


def _explain_connect(exc: BaseException) -> bool:
    text = str(exc)
    return "authentication failed" in text or "does not exist" in text or "no pg_hba.conf entry" in text


def _refused(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("connection refused", "timeout expired", "could not translate host", "no route"))


PG_ERRORS: tuple[ErrorRule, ...] = (
    ErrorRule(psycopg.OperationalError, DatabaseUnreachableError,
              "cannot reach the server (is it running, and is host:port right?)", _refused),
    ErrorRule(psycopg.OperationalError, DatabaseAuthError,
              "the server refused the login (check user, password and database name)", _explain_connect),
    ErrorRule((pgerrors.UndefinedTable, pgerrors.InvalidSchemaName), UnknownObjectError, "unknown table"),
    ErrorRule(pgerrors.UndefinedColumn, UnknownObjectError, "unknown column"),
    ErrorRule(pgerrors.InvalidColumnReference, ConnectorError,
              "merge needs a primary key or unique constraint on exactly the key columns"),
    ErrorRule((pgerrors.SerializationFailure, pgerrors.DeadlockDetected, psycopg.OperationalError),
              DatabaseTransientError, "transient database failure, worth retrying"),
)


def _resource(dsn: str, processor: str, obj: str | None) -> Resource:
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        parts = urlsplit(dsn)
        info = {"host": parts.hostname, "port": parts.port, "user": parts.username}
    host = info.get("host") or "localhost"
    server = f"{host}:{info.get('port') or 5432}"
    return Resource(processor, server, str(info.get("user") or ""), str(info.get("dbname") or ""), obj)


def _connect(dsn: str, resource: Resource, connect_timeout: int) -> psycopg.Connection[Any]:
    with map_errors(PG_ERRORS, resource):
        conn = psycopg.connect(dsn, connect_timeout=connect_timeout, autocommit=False)
        for stmt in _SESSION:
            conn.execute(stmt)
        return conn


def arrow_type(type_code: int, precision: int | None, scale: int | None) -> pa.DataType:
    """The Arrow type for a result column; unconstrained NUMERIC stays text so no digit is lost."""
    if type_code == _NUMERIC:
        if precision and precision <= 38:
            return pa.decimal128(precision, scale or 0)
        return pa.string()
    return PG_TYPES.get(type_code, pa.string())


class _CopyReader(io.RawIOBase):
    """A file object over psycopg's `Copy` chunks, so pyarrow's CSV reader can pull from it."""

    def __init__(self, copy: Any) -> None:
        self._read = copy.read
        self._pending = bytearray()

    def readable(self) -> bool:
        return True

    def at_end(self) -> bool:
        """True when the COPY produced no data at all (pyarrow's CSV reader refuses an empty stream)."""
        if not self._pending:
            self._pending += self._read() or b""
        return not self._pending

    def readinto(self, b: Any) -> int:
        # psycopg hands out one COPY message (about one row) per read(); gather them until the
        # caller's whole buffer is full, or pyarrow would allocate a block per row.
        want, pending, read = len(b), self._pending, self._read
        while len(pending) < want:
            chunk = read()
            if not chunk:
                break
            pending += chunk
        n = min(want, len(pending))
        memoryview(b).cast("B")[:n] = pending[:n]
        del pending[:n]
        return n


PG_BACKEND = Backend(POSTGRES, PG_ERRORS, _resource)


class PostgresSource(DatabaseSource["psycopg.Connection[Any]"]):
    """Stream a table or a query out of PostgreSQL as Arrow batches of `batch_size` rows.

    Args:
        dsn: libpq connection string or `postgresql://` URI.
        query: a SELECT to run (exclusive with `table`).
        table: `table` or `schema.table` to read whole (optionally only `columns`).
        batch_size: rows per emitted batch.

    >>> PostgresSource("postgresql://u:p@127.0.0.1/db", table="public.orders")  # doctest: +SKIP
    """

    BACKEND = PG_BACKEND
    schema: pa.Schema | None = None
    """The result's Arrow schema, known once `read` has started."""

    def _connect(self) -> psycopg.Connection[Any]:
        return _connect(self.dsn, self._resource, self.connect_timeout)

    def _select(self) -> pgsql.Composable:
        # COPY (...) takes one statement: drop a query's trailing semicolon.
        return pgsql.SQL(self._select_sql().strip().rstrip(";"))

    def read(self) -> Iterator[pa.RecordBatch]:
        assert self._conn is not None, "open() first"
        select = self._select()
        with map_errors(PG_ERRORS, self._resource):
            cur = self._conn.execute(pgsql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(select))
            desc = cur.description or []
            self.schema = pa.schema(
                [pa.field(d.name, arrow_type(d.type_code, d.precision, d.scale)) for d in desc]
            )
            self._conn.rollback()  # COPY below starts a fresh transaction/snapshot
            copy_sql = pgsql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv)").format(select)
            with self._conn.cursor().copy(copy_sql) as copy:
                raw = _CopyReader(copy)
                if raw.at_end():  # no rows: the COPY is over, and pyarrow refuses an empty CSV stream
                    return
                reader = pacsv.open_csv(
                    raw,
                    read_options=pacsv.ReadOptions(
                        column_names=self.schema.names, block_size=4 << 20, use_threads=False
                    ),
                    parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
                    convert_options=pacsv.ConvertOptions(
                        column_types=self.schema,
                        true_values=["t"],
                        false_values=["f"],
                        null_values=[""],
                        strings_can_be_null=True,
                        quoted_strings_can_be_null=False,
                        timestamp_parsers=[pacsv.ISO8601],
                    ),
                )
                yield from rebatch(iter(reader), self.batch_size)
            self._conn.rollback()


class PostgresSink(DatabaseSink["psycopg.Connection[Any]"]):
    """Write Arrow batches into a PostgreSQL table in one transaction, published at `close(None)`.

    append streams straight into the table; overwrite and merge stream into a
    temporary staging table first and move the rows over at close, so the
    target is locked only for that last statement. On `close(error)` the
    transaction rolls back: no row, and no table created by this sink, is left.

    Args:
        dsn: libpq connection string or `postgresql://` URI.
        table: target `table` or `schema.table`.
        mode: append, overwrite (the table then holds exactly the written rows) or merge (insert or update by `key`).
        key: columns identifying a row, required for merge (a primary key when `create` makes the table).
        create: create the table from the first batch's schema when it does not exist.
    """

    BACKEND = PG_BACKEND
    COLUMNS_DIFFER = "differ from the first batch's"

    _staging: str
    """The temporary table overwrite and merge stream into (named per run, so runs never collide)."""

    def _connect(self) -> psycopg.Connection[Any]:
        return _connect(self.dsn, self._resource, self.connect_timeout)

    def _prepare(self, schema: pa.Schema) -> None:
        self._staging = f"towpath_staging_{uuid.uuid4().hex[:12]}"
        if self.mode != "append":
            self._execute(create_staging(self._staging, self.table, list(schema.names)))

    def _write(self, batch: pa.RecordBatch) -> None:
        assert self._conn is not None
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, write_options=pacsv.WriteOptions(include_header=False))
        target = self.table if self.mode == "append" else self._staging
        columns = self._columns or []
        copy_sql = exp.Schema(
            this=table_expr(target), expressions=[exp.to_identifier(c, quoted=True) for c in columns]
        ).sql("postgres")
        with self._conn.cursor().copy(
            pgsql.SQL("COPY {} FROM STDIN WITH (FORMAT csv)").format(pgsql.SQL(copy_sql))
        ) as copy:
            copy.write(buf.getbuffer())

    def _publish(self) -> None:
        if self.mode == "overwrite":
            self._execute(delete_all(self.table))
        if self._columns is None or self.mode == "append":
            return
        cols = self._columns
        query = select_from(self._staging, cols)
        if self.mode == "merge":
            # Keep the last row per key: a key twice in one ON CONFLICT statement is an error in PostgreSQL.
            query = query.distinct(*(column(k) for k in self.key))
            query = query.order_by(
                *(column(k) for k in self.key),
                exp.Ordered(this=exp.column("ctid"), desc=True),
            )
            insert = insert_select(self.table, cols, query)
            insert.set("conflict", on_conflict_update(cols, self.key, POSTGRES))
        else:
            insert = insert_select(self.table, cols, query)
        self._execute(insert)
        self._execute(drop_table(self._staging))
