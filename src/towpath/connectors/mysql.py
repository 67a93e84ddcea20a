"""MySQL / MariaDB source and sink (pymysql).

The source reads through an unbuffered server-side cursor (`SSCursor`), so a
big table streams in `batch_size` slices instead of landing in client memory.
The sink uses `executemany` on a single-row `INSERT ... VALUES (%s, ...)`,
which pymysql rewrites into multi-row INSERTs of up to ~1 MB each, plus
`ON DUPLICATE KEY UPDATE` for upserts. One transaction per run: DDL commits
implicitly in MySQL, so the sink issues `CREATE TABLE` before any row and uses
`DELETE` rather than `TRUNCATE` for replace (TRUNCATE commits too).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
from sqlglot import exp

from towpath.connectors._sql import (
    MYSQL,
    DatabaseAuthError,
    DatabaseError,
    DatabaseTransientError,
    DatabaseUnreachableError,
    ErrorRule,
    Resource,
    SqlWriteMode,
    UnknownObjectError,
    batch_to_rows,
    check_key_columns,
    check_write_args,
    create_table,
    delete_all,
    insert_values,
    map_errors,
    on_conflict_update,
    rows_to_batch,
    select_from,
)
from towpath.errors import ConnectorError
from towpath.pipeline.processor import ProcessorContext, Sink, Source

try:
    import pymysql
    import pymysql.cursors
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConnectorError("the MySQL connectors need pymysql: pip install 'towpath[mysql]'") from exc


def _errno(*codes: int) -> object:
    return lambda exc: bool(exc.args) and exc.args[0] in codes


MYSQL_ERRORS: tuple[ErrorRule, ...] = (
    ErrorRule(pymysql.err.OperationalError, DatabaseUnreachableError,
              "cannot reach the server (is it running, and is host:port right?)", _errno(2003, 2006, 2013)),
    ErrorRule(pymysql.err.OperationalError, DatabaseAuthError,
              "the server refused the login (check user, password and database name)", _errno(1045, 1044, 1049)),
    ErrorRule((pymysql.err.ProgrammingError, pymysql.err.OperationalError), UnknownObjectError, "unknown table",
              _errno(1146)),
    ErrorRule((pymysql.err.ProgrammingError, pymysql.err.OperationalError, pymysql.err.InternalError),
              UnknownObjectError, "unknown column", _errno(1054)),
    ErrorRule(pymysql.err.OperationalError, DatabaseTransientError, "transient database failure, worth retrying",
              _errno(1205, 1213)),
    ErrorRule(pymysql.err.MySQLError, DatabaseError, "statement failed"),
)

# pymysql.constants.FIELD_TYPE codes -> Arrow; anything else is inferred from the values.
_FIELD_TYPES: dict[int, pa.DataType] = {
    1: pa.int8(), 2: pa.int16(), 3: pa.int32(), 9: pa.int32(), 8: pa.int64(), 13: pa.int16(),
    4: pa.float32(), 5: pa.float64(),
    10: pa.date32(), 14: pa.date32(), 7: pa.timestamp("us"), 12: pa.timestamp("us"),
    15: pa.string(), 253: pa.string(), 254: pa.string(), 245: pa.string(), 247: pa.string(),
}
_DECIMAL = (0, 246)

TO_DRIVER: dict[str, pa.DataType] = {"is_timestamp": pa.timestamp("us")}
"""Bind timestamps as naive UTC (the session runs in UTC); pymysql cannot bind tz-aware datetimes."""


def arrow_type(desc: Sequence[Any]) -> pa.DataType | None:
    """Arrow type for one pymysql `cursor.description` entry (BOOLEAN is TINYINT(1))."""
    _, code, _, length, _, scale, _ = desc
    if code == 1 and length == 1:
        return pa.bool_()
    if code in _DECIMAL:
        precision = (length or 0) - 1 - (1 if scale else 0)  # pymysql's length counts sign and point
        return pa.decimal128(precision, scale or 0) if 0 < precision <= 38 else pa.string()
    return _FIELD_TYPES.get(code)


def _params(dsn: str) -> dict[str, Any]:
    """`mysql://user:password@host:port/database` -> pymysql keyword arguments."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("mysql", "mariadb", "mysql+pymysql"):
        raise ConnectorError(f"MySQL DSN must look like mysql://user:password@host:port/database, got '{dsn}'")
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/") or None,
    }


def _connect(dsn: str, resource: Resource, connect_timeout: int, cursorclass: Any = None) -> Any:
    params = _params(dsn)
    with map_errors(MYSQL_ERRORS, resource):
        conn = pymysql.connect(
            **params, connect_timeout=connect_timeout, autocommit=False, charset="utf8mb4",
            cursorclass=cursorclass or pymysql.cursors.Cursor, init_command="SET time_zone = '+00:00'",
        )
        return conn


def _resource(dsn: str, processor: str, obj: str | None) -> Resource:
    p = _params(dsn)
    return Resource(processor, f"{p['host']}:{p['port']}", p["user"], p["database"], obj)


class MySqlSource(Source):
    """Stream a table or query out of MySQL/MariaDB as Arrow batches (unbuffered server-side cursor).

    Args:
        dsn: `mysql://user:password@host:port/database`.
        query / table: what to read (exactly one).
        batch_size: rows per batch.
    """

    def __init__(
        self,
        dsn: str,
        *,
        query: str | None = None,
        table: str | None = None,
        columns: Sequence[str] | None = None,
        batch_size: int = 65_536,
        connect_timeout: int = 10,
        name: str = "",
    ) -> None:
        if (query is None) == (table is None):
            raise ConnectorError("MySqlSource needs exactly one of query=... or table=...")
        self.dsn, self.query, self.table, self.columns = dsn, query, table, list(columns or [])
        self.batch_size, self.connect_timeout = batch_size, connect_timeout
        self.name = name or f"mysql:{table or 'query'}"
        self._conn: Any = None

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        self._resource = _resource(self.dsn, self.name, self.table or self.query)
        self._conn = _connect(self.dsn, self._resource, self.connect_timeout, pymysql.cursors.SSCursor)

    def read(self) -> Iterator[pa.RecordBatch]:
        assert self._conn is not None, "open() first"
        sql = select_from(self.table, self.columns).sql("mysql") if self.table else str(self.query)
        where = self._resource.describe()
        with map_errors(MYSQL_ERRORS, self._resource), self._conn.cursor() as cursor:
            cursor.execute(sql)
            names = [d[0] for d in cursor.description]
            types: list[pa.DataType | None] = [arrow_type(d) for d in cursor.description]
            while rows := cursor.fetchmany(self.batch_size):
                batch = rows_to_batch(rows, names, types, where)
                types = list(batch.schema.types)
                yield batch

    def close(self, error: BaseException | None) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class MySqlSink(Sink):
    """Write Arrow batches into a MySQL/MariaDB table in one transaction, committed at `close(None)`.

    Args:
        dsn: `mysql://user:password@host:port/database`.
        table: target table.
        mode: append, replace (DELETE + insert in the transaction) or upsert (`ON DUPLICATE KEY UPDATE`).
        key: columns identifying a row for upsert (the primary key when `create` makes the table).
        create: create the table from the first batch's schema if missing (DDL commits at once in MySQL,
            so an empty table may remain after a failed first run; its rows never do).
    """

    def __init__(
        self,
        dsn: str,
        table: str,
        *,
        mode: SqlWriteMode = "append",
        key: Sequence[str] = (),
        create: bool = True,
        connect_timeout: int = 10,
        name: str = "",
    ) -> None:
        self.name = name or f"mysql:{table}"
        check_write_args(mode, key, f"MySqlSink '{self.name}'")
        self.dsn, self.table, self.mode, self.key, self.create = dsn, table, mode, list(key), create
        self.connect_timeout = connect_timeout
        self._conn: Any = None
        self._columns: list[str] | None = None
        self._insert = ""
        self.rows_written = 0

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        self._resource = _resource(self.dsn, self.name, self.table)
        self._conn = _connect(self.dsn, self._resource, self.connect_timeout)

    def _prepare(self, schema: pa.Schema) -> None:
        check_key_columns(schema, self.key, f"MySqlSink '{self.name}'")
        self._columns = list(schema.names)
        with self._conn.cursor() as cur:
            if self.create:
                key = self.key if self.mode == "upsert" else ()
                cur.execute(create_table(self.table, schema, MYSQL, key=key).sql("mysql"))
            if self.mode == "replace":
                cur.execute(delete_all(self.table).sql("mysql"))
        insert = insert_values(self.table, self._columns, exp.var("%s"))
        if self.mode == "upsert":
            insert.set("conflict", on_conflict_update(self._columns, self.key, MYSQL))
        self._insert = insert.sql("mysql")

    def write(self, batch: pa.RecordBatch) -> None:
        assert self._conn is not None, "open() first"
        with map_errors(MYSQL_ERRORS, self._resource):
            if self._columns is None:
                self._prepare(batch.schema)
            elif batch.schema.names != self._columns:
                raise ConnectorError(
                    f"MySqlSink '{self.name}': batch columns {batch.schema.names} differ from {self._columns}"
                )
            if batch.num_rows:
                with self._conn.cursor() as cur:
                    cur.executemany(self._insert, batch_to_rows(batch, TO_DRIVER))
                self.rows_written += batch.num_rows

    def close(self, error: BaseException | None) -> None:
        if self._conn is None:
            return
        try:
            with map_errors(MYSQL_ERRORS, self._resource):
                if error is None:
                    if self.mode == "replace" and self._columns is None:
                        with self._conn.cursor() as cur:
                            cur.execute(delete_all(self.table).sql("mysql"))
                    self._conn.commit()
                else:
                    self._conn.rollback()
        finally:
            self._conn.close()
            self._conn = None
