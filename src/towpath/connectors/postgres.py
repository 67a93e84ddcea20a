"""PostgreSQL source and sink moving Arrow through binary COPY (ADBC), never through Python rows or CSV text.

Why ADBC: `adbc-driver-postgresql` runs `COPY ... WITH (FORMAT binary)` and
decodes/encodes Arrow buffers in C, which put both directions within 1.2x of
`psql \\copy` (CSV text through psycopg was ~3x slower). The source still lets
psycopg log in and describe the result (`LIMIT 0`), so the login and
unknown-table errors and the result's Arrow schema stay exactly as before; the
ADBC batches are cast to that schema (NUMERIC and non-native types are read as
text and become the decimal or string the description names). The sink's
connection is ADBC's: its transaction holds the DDL, the binary COPYs and the
publishing statements, committed at `close(None)`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
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
)
from towpath.errors import ConnectorError

try:
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc
    import psycopg
    from psycopg import errors as pgerrors
    from psycopg import sql as pgsql
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConnectorError(
        "the PostgreSQL connectors need psycopg and adbc-driver-postgresql: pip install 'towpath[postgres]'"
    ) from exc

_BOOL, _INT8, _INT2, _INT4, _OID = 16, 20, 21, 23, 26
_FLOAT4, _FLOAT8, _NUMERIC = 700, 701, 1700
_DATE, _TIMESTAMP, _TIMESTAMPTZ = 1082, 1114, 1184
_TEXT, _VARCHAR = 25, 1043

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

_BINARY_NATIVE = frozenset(PG_TYPES) | {_TEXT, _VARCHAR}
"""Types ADBC decodes to the Arrow type above; every other column is read as `::text` (its text form, as before)."""

_SESSION = ("SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, YMD'")
"""Pin the text forms COPY produces, whatever the server's defaults."""


def _explain_connect(exc: BaseException) -> bool:
    text = str(exc)
    return "authentication failed" in text or "does not exist" in text or "no pg_hba.conf entry" in text


def _sqlstate(*codes: str) -> Callable[[BaseException], bool]:
    """Match an ADBC error by the SQLSTATE the server sent (ADBC has one class per status, not per SQLSTATE)."""
    return lambda exc: getattr(exc, "sqlstate", None) in codes


def _refused(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("connection refused", "timeout expired", "could not translate host", "no route"))


_OPERATIONAL = (psycopg.OperationalError, adbc_driver_manager.OperationalError)

PG_ERRORS: tuple[ErrorRule, ...] = (
    ErrorRule(_OPERATIONAL, DatabaseUnreachableError,
              "cannot reach the server (is it running, and is host:port right?)", _refused),
    ErrorRule(_OPERATIONAL, DatabaseAuthError,
              "the server refused the login (check user, password and database name)", _explain_connect),
    ErrorRule((pgerrors.UndefinedTable, pgerrors.InvalidSchemaName), UnknownObjectError, "unknown table"),
    ErrorRule(adbc_driver_manager.Error, UnknownObjectError, "unknown table", _sqlstate("42P01", "3F000")),
    ErrorRule(pgerrors.UndefinedColumn, UnknownObjectError, "unknown column"),
    ErrorRule(adbc_driver_manager.Error, UnknownObjectError, "unknown column", _sqlstate("42703")),
    ErrorRule(pgerrors.InvalidColumnReference, ConnectorError,
              "merge needs a primary key or unique constraint on exactly the key columns"),
    ErrorRule((pgerrors.SerializationFailure, pgerrors.DeadlockDetected, *_OPERATIONAL),
              DatabaseTransientError, "transient database failure, worth retrying"),
    ErrorRule(adbc_driver_manager.Error, DatabaseTransientError,
              "transient database failure, worth retrying", _sqlstate("40001", "40P01")),
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


def _bulk_dsn(dsn: str, connect_timeout: int) -> str:
    """`dsn` with libpq's connect_timeout, which ADBC has no option for."""
    if "://" in dsn:
        return f"{dsn}{'&' if '?' in dsn else '?'}connect_timeout={connect_timeout}"
    return f"{dsn} connect_timeout={connect_timeout}"


def _connect_bulk(dsn: str, resource: Resource, connect_timeout: int) -> adbc.Connection:
    with map_errors(PG_ERRORS, resource):
        return adbc.connect(_bulk_dsn(dsn, connect_timeout))


def arrow_type(type_code: int, precision: int | None, scale: int | None) -> pa.DataType:
    """The Arrow type for a result column; unconstrained NUMERIC stays text so no digit is lost."""
    if type_code == _NUMERIC:
        if precision and precision <= 38:
            return pa.decimal128(precision, scale or 0)
        return pa.string()
    return PG_TYPES.get(type_code, pa.string())


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
    snapshot: str | None = None
    """An exported snapshot (`pg_export_snapshot()`, a replication slot's) to read as of, e.g. for CDC's handoff."""

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
            self._conn.rollback()
            # Non-native types are read as their text form, so the cast below only ever parses text it expects.
            cols = pgsql.SQL(", ").join(
                pgsql.Identifier(d.name) if d.type_code in _BINARY_NATIVE
                else pgsql.SQL("{}::text").format(pgsql.Identifier(d.name))
                for d in desc
            )
            query = pgsql.SQL("SELECT {} FROM ({}) AS q").format(cols, select).as_string(self._conn)
            with _connect_bulk(self.dsn, self._resource, self.connect_timeout) as bulk, bulk.cursor() as bulk_cur:
                if self.snapshot is not None:
                    bulk_cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    bulk_cur.execute(pgsql.SQL("SET TRANSACTION SNAPSHOT {}").format(self.snapshot).as_string(self._conn))
                bulk_cur.execute(query)
                batches = (b.cast(self.schema) for b in bulk_cur.fetch_record_batch() if b.num_rows)
                yield from rebatch(batches, self.batch_size)


class PostgresSink(DatabaseSink["adbc.Connection"]):
    """Write Arrow batches into a PostgreSQL table in one transaction, published at `close(None)`.

    append streams straight into the table; overwrite and merge stream into a
    temporary staging table first and move the rows over at close, so the
    target is locked only for that last statement. On `close(error)` the
    transaction rolls back: no row, and no table created by this sink, is left.

    Rows travel as binary COPY through ADBC's `adbc_ingest`. Binary COPY wants
    each column in exactly the table's type, so a batch is first cast to the
    table's Arrow types; a batch Arrow cannot cast (text into NUMERIC, say)
    goes into a temporary table in its own types and on with an `INSERT ...
    SELECT CAST(...)`, so PostgreSQL converts it as the CSV path did.

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
    _target: pa.Schema
    """The destination's columns as ADBC reads them (types plus `POSTGRESQL:type` metadata)."""

    def _connect(self) -> adbc.Connection:
        return _connect_bulk(self.dsn, self._resource, self.connect_timeout)

    def _prepare(self, schema: pa.Schema) -> None:
        self._staging = f"towpath_staging_{uuid.uuid4().hex[:12]}"
        if self.mode != "append":
            self._execute(create_staging(self._staging, self.table, list(schema.names)))
        assert self._conn is not None
        with self._conn.cursor() as cur:
            cur.execute(select_from(self._destination, list(schema.names)).limit(0).sql("postgres"))
            self._target = cur.fetch_arrow_table().schema

    @property
    def _destination(self) -> str:
        return self.table if self.mode == "append" else self._staging

    def _write(self, batch: pa.RecordBatch) -> None:
        assert self._conn is not None
        exact = _binary_exact(batch, self._target)
        with self._conn.cursor() as cur:
            if exact is not None:
                if self.mode == "append":
                    schema_name, _, name = self.table.rpartition(".")
                    cur.adbc_ingest(name, exact, mode="append", db_schema_name=schema_name or None)
                else:
                    cur.adbc_ingest(self._staging, exact, mode="append", temporary=True)
                return
            raw = f"{self._staging}_raw"
            cur.adbc_ingest(raw, batch, mode="create_append", temporary=True)
            casts = [
                exp.Cast(this=column(f.name), to=exp.DataType.build(_pg_type(f), dialect="postgres", udt=True))
                for f in self._target
            ]
            cur.execute(insert_select(self._destination, batch.schema.names,
                                      exp.select(*casts).from_(exp.to_identifier(raw, quoted=True))).sql("postgres"))
            cur.execute(delete_all(raw).sql("postgres"))

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


_TEXT_NAMES = frozenset({"text", "varchar", "bpchar", "name"})


def _pg_type(target: pa.Field) -> str:
    """The column's PostgreSQL type name, as ADBC records it in the field metadata."""
    meta = target.metadata or {}
    if b"POSTGRESQL:type" in meta:
        return str(meta[b"POSTGRESQL:type"].decode())
    if isinstance(target.type, pa.ExtensionType):  # ADBC's opaque type (NUMERIC) carries the name itself
        return str(getattr(target.type, "type_name", "text"))
    return "text"


def _binary_exact(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch | None:
    """`batch` in exactly the binary forms `target`'s columns accept, or None when Arrow cannot say it so."""
    arrays = []
    for name in batch.schema.names:
        col, want = batch.column(name), target.field(name)
        pg = _pg_type(want)
        if pg == "numeric":
            if pa.types.is_decimal(col.type):
                arrays.append(col)
                continue
            return None
        if isinstance(want.type, pa.ExtensionType) or (pa.types.is_string(want.type) and pg not in _TEXT_NAMES):
            return None
        if pa.types.is_string(want.type) and not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            return None  # PostgreSQL's text form of a non-text value is not Arrow's
        try:
            arrays.append(col if col.type == want.type else col.cast(want.type))
        except pa.ArrowException:
            return None
    return pa.record_batch(arrays, names=batch.schema.names)
