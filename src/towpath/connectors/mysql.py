"""MySQL / MariaDB source and sink (pymysql).

The source reads through an unbuffered server-side cursor (`SSCursor`), so a
big table streams in `batch_size` slices instead of landing in client memory.
The sink uses `executemany` on a single-row `INSERT ... VALUES (%s, ...)`,
which pymysql rewrites into multi-row INSERTs of up to ~1 MB each, plus
`ON DUPLICATE KEY UPDATE` for merge. One transaction per run: DDL commits
implicitly in MySQL, so the sink issues `CREATE TABLE` before any row and uses
`DELETE` rather than `TRUNCATE` for overwrite (TRUNCATE commits too).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlglot import exp

from towpath.connectors._sql import (
    MYSQL,
    Backend,
    DatabaseAuthError,
    DatabaseError,
    DatabaseSource,
    DatabaseTransientError,
    DatabaseUnreachableError,
    DbapiSink,
    ErrorRule,
    Resource,
    UnknownObjectError,
    fetch_batches,
    map_errors,
    table_expr,
)
from towpath.errors import ConnectorError

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
            **params, connect_timeout=connect_timeout, autocommit=False, charset="utf8mb4", local_infile=True,
            cursorclass=cursorclass or pymysql.cursors.Cursor, init_command="SET time_zone = '+00:00'",
        )
        return conn


_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="all_valid", null_string="NULL")
"""Every value quoted and NULL bare: `LOAD DATA ... ENCLOSED BY '"'` reads a bare NULL as NULL and
`""` as the empty string, and a doubled quote inside a value as one quote."""


def _as_csv_columns(batch: pa.RecordBatch) -> pa.RecordBatch | None:
    """The batch with the columns MySQL's CSV parser reads as text; None if a column has no text form."""
    columns = []
    for f, col in zip(batch.schema, batch.columns):
        if pa.types.is_timestamp(f.type):
            col = col.cast(pa.timestamp("us"))  # naive UTC: the session runs in UTC
        elif pa.types.is_boolean(f.type):
            col = col.cast(pa.int8())
        elif pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) or pa.types.is_fixed_size_binary(f.type):
            return None
        columns.append(col)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _resource(dsn: str, processor: str, obj: str | None) -> Resource:
    p = _params(dsn)
    return Resource(processor, f"{p['host']}:{p['port']}", p["user"], p["database"], obj)


MYSQL_BACKEND = Backend(MYSQL, MYSQL_ERRORS, _resource)


class MySqlSource(DatabaseSource[Any]):
    """Stream a table or query out of MySQL/MariaDB as Arrow batches (unbuffered server-side cursor).

    Args:
        dsn: `mysql://user:password@host:port/database`.
        query / table: what to read (exactly one).
        batch_size: rows per batch.
    """

    BACKEND = MYSQL_BACKEND
    consistent_snapshot: bool = False
    """Read in a `START TRANSACTION WITH CONSISTENT SNAPSHOT` and note its binlog position (CDC's handoff)."""
    binlog_position: tuple[str, int] | None = None
    """With `consistent_snapshot` on MariaDB: the binlog (file, position) the read is consistent with."""

    def _connect(self) -> Any:
        return _connect(self.dsn, self._resource, self.connect_timeout, pymysql.cursors.SSCursor)

    def read(self) -> Iterator[pa.RecordBatch]:
        assert self._conn is not None, "open() first"
        with map_errors(MYSQL_ERRORS, self._resource), self._conn.cursor() as cursor:
            if self.consistent_snapshot:
                cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                cursor.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
                status = dict(cursor.fetchall())
                if status.get("Binlog_snapshot_file"):
                    self.binlog_position = (status["Binlog_snapshot_file"], int(status["Binlog_snapshot_position"]))
            cursor.execute(self._select_sql())
            types = [arrow_type(d) for d in cursor.description]
            yield from fetch_batches(cursor, types, self.batch_size, self._resource.describe())


class MySqlSink(DbapiSink[Any]):
    """Write Arrow batches into a MySQL/MariaDB table in one transaction, committed at `close(None)`.

    Args:
        dsn: `mysql://user:password@host:port/database`.
        table: target table.
        mode: append, overwrite (DELETE + insert in the transaction) or merge (`ON DUPLICATE KEY UPDATE`).
        key: columns identifying a row for merge (the primary key when `create` makes the table).
        create: create the table from the first batch's schema if missing (DDL commits at once in MySQL,
            so an empty table may remain after a failed first run; its rows never do).
    """

    BACKEND = MYSQL_BACKEND
    PLACEHOLDER = exp.var("%s")
    TO_DRIVER = TO_DRIVER

    def _connect(self) -> Any:
        return _connect(self.dsn, self._resource, self.connect_timeout)

    def _write(self, batch: pa.RecordBatch) -> None:
        """append and overwrite load the batch as Arrow-written CSV with `LOAD DATA LOCAL INFILE`
        (no Python tuple per row); merge, and batches with binary columns, go through `executemany`."""
        text = _as_csv_columns(batch) if self.mode != "merge" else None
        if text is None:
            super()._write(batch)
            return
        assert self._conn is not None
        with tempfile.TemporaryDirectory(prefix="towpath-mysql-") as folder:
            path = Path(folder) / "batch.csv"
            pacsv.write_csv(text, str(path), _CSV_OPTIONS)
            columns = ", ".join(exp.to_identifier(c, quoted=True).sql("mysql") for c in batch.schema.names)
            load = (
                f"LOAD DATA LOCAL INFILE {exp.Literal.string(str(path)).sql('mysql')} "
                f"INTO TABLE {table_expr(self.table).sql('mysql')} CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY ',' ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' "
                f"({columns})"
            )
            with contextlib.closing(self._conn.cursor()) as cur:
                cur.execute(load)
