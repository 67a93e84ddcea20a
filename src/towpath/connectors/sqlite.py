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
    DatabaseError,
    DatabaseTransientError,
    DatabaseUnreachableError,
    ErrorRule,
    Resource,
    SqlWriteMode,
    UnknownObjectError,
    arrow_type_for_declared,
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
              "upsert needs a primary key or unique index on exactly the key columns",
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
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so the whole run is one transaction.
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn


class SqliteSource(Source):
    """Read a table or query from a SQLite file as Arrow batches.

    Args:
        path: the database file (must exist).
        query / table: what to read (exactly one).
        schema: Arrow schema to convert to; by default the table's declared types
            (for a query: types inferred from the first batch, undeclared null columns as text).
    """

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
        if (query is None) == (table is None):
            raise ConnectorError("SqliteSource needs exactly one of query=... or table=...")
        self.path, self.query, self.table, self.columns = Path(path), query, table, list(columns or [])
        self.schema, self.batch_size = schema, batch_size
        self.name = name or f"sqlite:{table or 'query'}"
        self._conn: sqlite3.Connection | None = None

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        self._resource = Resource(self.name, str(self.path), obj=self.table or self.query)
        if not self.path.exists():
            raise DatabaseUnreachableError(f"{self._resource.describe()}: the database file does not exist")
        self._conn = _connect(self.path, self._resource, must_exist=True)

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
        sql = select_from(self.table, self.columns).sql("sqlite") if self.table else str(self.query)
        where = self._resource.describe()
        with map_errors(SQLITE_ERRORS, self._resource):
            declared = self._table_columns() if self.table else {}
            cursor = self._conn.execute(sql)
            names = [d[0] for d in cursor.description]
            types = self._types(names, declared)
            while rows := cursor.fetchmany(self.batch_size):
                batch = rows_to_batch(rows, names, types, where)
                types = list(batch.schema.types)  # later batches keep the first batch's types
                yield batch

    def close(self, error: BaseException | None) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SqliteSink(Sink):
    """Write Arrow batches into a SQLite table in one transaction, committed at `close(None)`.

    Args:
        path: the database file (created if missing).
        table: target table.
        mode: append, replace (DELETE then insert, same transaction) or upsert (`ON CONFLICT DO UPDATE`).
        key: columns identifying a row for upsert (the primary key when `create` makes the table).
        create: create the table from the first batch's schema when it does not exist.
    """

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
        self.name = name or f"sqlite:{table}"
        check_write_args(mode, key, f"SqliteSink '{self.name}'")
        self.path, self.table, self.mode, self.key, self.create = Path(path), table, mode, list(key), create
        self._conn: sqlite3.Connection | None = None
        self._insert: str | None = None
        self._columns: list[str] | None = None
        self.rows_written = 0

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        self._resource = Resource(self.name, str(self.path), obj=self.table)
        self._conn = _connect(self.path, self._resource, must_exist=False)
        with map_errors(SQLITE_ERRORS, self._resource):
            self._conn.execute("BEGIN IMMEDIATE")

    def _prepare(self, schema: pa.Schema) -> None:
        assert self._conn is not None
        check_key_columns(schema, self.key, f"SqliteSink '{self.name}'")
        self._columns = list(schema.names)
        if self.create:
            key = self.key if self.mode == "upsert" else ()
            self._conn.execute(create_table(self.table, schema, SQLITE, key=key).sql("sqlite"))
        if self.mode == "replace":
            self._conn.execute(delete_all(self.table).sql("sqlite"))
        insert = insert_values(self.table, self._columns, exp.Placeholder())
        if self.mode == "upsert":
            insert.set("conflict", on_conflict_update(self._columns, self.key, SQLITE))
        self._insert = insert.sql("sqlite")

    def write(self, batch: pa.RecordBatch) -> None:
        assert self._conn is not None, "open() first"
        with map_errors(SQLITE_ERRORS, self._resource):
            if self._columns is None:
                self._prepare(batch.schema)
            elif batch.schema.names != self._columns:
                raise ConnectorError(
                    f"SqliteSink '{self.name}': batch columns {batch.schema.names} differ from {self._columns}"
                )
            self._conn.executemany(self._insert, batch_to_rows(batch, TO_DRIVER))  # type: ignore[arg-type]
            self.rows_written += batch.num_rows

    def close(self, error: BaseException | None) -> None:
        if self._conn is None:
            return
        try:
            with map_errors(SQLITE_ERRORS, self._resource):
                if error is None:
                    if self.mode == "replace" and self._columns is None:
                        self._conn.execute(delete_all(self.table).sql("sqlite"))
                    self._conn.execute("COMMIT")
                else:
                    self._conn.execute("ROLLBACK")
        finally:
            self._conn.close()
            self._conn = None
