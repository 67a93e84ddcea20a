"""SQLite source and sink (stdlib `sqlite3`).

SQLite has no bulk protocol; the C-level `executemany` and `fetchmany` are the
fast path, and Arrow builds each column in one call. Column types come from
the table's declared types (`PRAGMA table_info`), since SQLite values carry no
type of their own; the sink declares the Arrow types verbatim (`DECIMAL(10, 2)`,
`BOOLEAN`, `TIMESTAMPTZ`) so a later read maps them back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
from sqlglot import exp

from towpath.connectors._sql import (
    SQLITE,
    Backend,
    DatabaseError,
    DatabaseSource,
    DatabaseTransientError,
    DatabaseUnreachableError,
    DbapiSink,
    ErrorRule,
    Resource,
    UnknownObjectError,
    arrow_type_for_declared,
    fetch_batches,
    map_errors,
)
from towpath.errors import ConnectorError
from towpath.write_modes import SqlWriteMode


def _message_has(*needles: str) -> object:
    return lambda exc: any(n in str(exc) for n in needles)


SQLITE_ERRORS: tuple[ErrorRule, ...] = (
    ErrorRule(sqlite3.OperationalError, UnknownObjectError, "unknown table", _message_has("no such table")),
    ErrorRule(sqlite3.OperationalError, UnknownObjectError, "unknown column",
              _message_has("no such column", "has no column named")),
    ErrorRule(sqlite3.OperationalError, DatabaseUnreachableError, "cannot open the database file",
              _message_has("unable to open database")),
    ErrorRule(sqlite3.OperationalError, DatabaseTransientError, "the database is locked by another writer",
              _message_has("database is locked", "database is busy")),
    ErrorRule(sqlite3.OperationalError, ConnectorError,
              "merge needs a primary key or unique index on exactly the key columns",
              _message_has("ON CONFLICT clause does not match")),
    ErrorRule(sqlite3.Error, DatabaseError, "statement failed"),
)

TO_DRIVER: dict[str, pa.DataType] = {
    "is_date": pa.string(),
    "is_timestamp": pa.string(),
    "is_time": pa.string(),
    "is_decimal": pa.string(),
}
"""Arrow types sqlite3 cannot bind, and what to bind instead (ISO text, exact decimal text)."""


def _connect(path: str | Path, resource: Resource, *, must_exist: bool) -> sqlite3.Connection:
    with map_errors(SQLITE_ERRORS, resource):
        uri = f"{Path(path).resolve().as_uri()}?mode={'rw' if must_exist else 'rwc'}"
        # isolation_level=None: we issue BEGIN ourselves, so the whole run is one transaction.
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn


SQLITE_BACKEND = Backend(SQLITE, SQLITE_ERRORS, lambda path, processor, obj: Resource(processor, path, obj=obj))
"""The `dsn` of a SQLite processor is its file path, which error messages name as the server."""


class SqliteSource(DatabaseSource[sqlite3.Connection]):
    """Read a table or query from a SQLite file as Arrow batches.

    Args:
        path: the database file (must exist).
        query / table: what to read (exactly one).
        schema: Arrow schema to convert to; by default the table's declared types
            (for a query: types inferred from the first batch, undeclared null columns as text).
    """

    BACKEND = SQLITE_BACKEND

    def __init__(
        self,
        path: str | Path,
        *,
        query: str | None = None,
        table: str | None = None,
        columns: Sequence[str] | None = None,
        schema: pa.Schema | None = None,
        batch_size: int = 65_536,
        name: str = "",
    ) -> None:
        super().__init__(str(Path(path)), query=query, table=table, columns=columns, batch_size=batch_size, name=name)
        self.path, self.schema = Path(path), schema

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise DatabaseUnreachableError(f"{self._resource.describe()}: the database file does not exist")
        return _connect(self.path, self._resource, must_exist=True)

    def _table_columns(self) -> dict[str, pa.DataType | None]:
        """Declared column types of `table`; checks the table and the requested columns exist.

        The check matters: SQLite reads an unknown double-quoted name as a string
        literal, so `SELECT "nope" FROM t` returns 'nope' instead of failing.
        """
        assert self._conn is not None and self.table is not None
        info = self._conn.execute(exp.select("name", "type").from_(
            exp.func("pragma_table_info", exp.Literal.string(self.table.split(".")[-1]))).sql("sqlite")).fetchall()
        where = self._resource.describe()
        if not info:
            raise UnknownObjectError(f"{where}: unknown table: no such table: {self.table}")
        declared = {n: arrow_type_for_declared(t) for n, t in info}
        missing = [c for c in self.columns if c not in declared]
        if missing:
            raise UnknownObjectError(
                f"{where}: unknown column: no such column: {', '.join(missing)} (table columns: {list(declared)})"
            )
        return declared

    def _types(self, names: Sequence[str], declared: dict[str, pa.DataType | None]) -> list[pa.DataType | None]:
        if self.schema is not None:
            return [self.schema.field(n).type if n in self.schema.names else None for n in names]
        return [declared.get(n) for n in names]

    def read(self) -> Iterator[pa.RecordBatch]:
        assert self._conn is not None, "open() first"
        with map_errors(SQLITE_ERRORS, self._resource):
            declared = self._table_columns() if self.table else {}
            cursor = self._conn.execute(self._select_sql())
            types = self._types([d[0] for d in cursor.description], declared)
            yield from fetch_batches(cursor, types, self.batch_size, self._resource.describe())


class SqliteSink(DbapiSink[sqlite3.Connection]):
    """Write Arrow batches into a SQLite table in one transaction, committed at `close(None)`.

    Args:
        path: the database file (created if missing).
        table: target table.
        mode: append, overwrite (DELETE then insert, same transaction) or merge (`ON CONFLICT DO UPDATE`).
        key: columns identifying a row for merge (the primary key when `create` makes the table).
        create: create the table from the first batch's schema when it does not exist.
    """

    BACKEND = SQLITE_BACKEND
    PLACEHOLDER = exp.Placeholder()
    TO_DRIVER = TO_DRIVER

    def __init__(
        self,
        path: str | Path,
        table: str,
        *,
        mode: SqlWriteMode = "append",
        key: Sequence[str] = (),
        create: bool = True,
        name: str = "",
    ) -> None:
        super().__init__(str(Path(path)), table, mode=mode, key=key, create=create, name=name)
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        # Take the write lock now: the whole run is one transaction. sqlite3's commit() and
        # rollback() end it at close, as they check the database's state, not `isolation_level`.
        conn = _connect(self.path, self._resource, must_exist=False)
        with map_errors(SQLITE_ERRORS, self._resource):
            conn.execute("BEGIN IMMEDIATE")
        return conn
