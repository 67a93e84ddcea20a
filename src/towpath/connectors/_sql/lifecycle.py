"""The life cycle database sources and sinks share: connect, read or stage, publish in `close`, map errors."""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import pyarrow as pa
from sqlglot import exp

from towpath.connectors._sql.ddl import (
    create_table,
    delete_all,
    insert_values,
    on_conflict_update,
    select_from,
)
from towpath.connectors._sql.drivers import batch_to_rows
from towpath.connectors._sql.errors import ErrorRule, Resource, UnknownObjectError, map_errors
from towpath.connectors._sql.types import SqlDialect
from towpath.errors import ConnectorError
from towpath.pipeline import ProcessorContext, Sink, Source
from towpath.write_modes import SQL_WRITE_MODES, SqlWriteMode, check_write_mode


def check_write_args(mode: str, key: Sequence[str], where: str) -> None:
    """Fail early (before any connection) on a mode/key combination that cannot work."""
    check_write_mode(mode, SQL_WRITE_MODES, where=where)
    if mode == "merge" and not key:
        raise ConnectorError(f"{where}: mode 'merge' needs key=[...] naming the columns that identify a row")


def check_key_columns(schema: pa.Schema, key: Sequence[str], where: str) -> None:
    missing = [k for k in key if k not in schema.names]
    if missing:
        raise UnknownObjectError(f"{where}: key column(s) {missing} are not in the data (columns: {schema.names})")


class Connection(Protocol):
    """What the shared life cycles use of a driver connection (sqlite3, pymysql and psycopg all fit)."""

    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


ConnT = TypeVar("ConnT", bound=Connection)


@dataclass(frozen=True)
class Backend:
    """How one database's source and sink differ from another's, as data (beside how they connect)."""

    dialect: SqlDialect
    """Renders the statements; its name also prefixes default processor names (`postgres:orders`)."""
    errors: tuple[ErrorRule, ...]
    """Driver exception -> towpath error, most specific first (see `map_errors`)."""
    locate: Callable[[str, str, str | None], Resource]
    """`(dsn, processor, table or query)` -> the `Resource` error messages name."""


class DatabaseProcessor(Generic[ConnT]):
    """The connection life cycle a database source and sink share; a backend states `BACKEND` and `_connect`."""

    BACKEND: ClassVar[Backend]

    name: str
    dsn: str
    _conn: ConnT | None
    _resource: Resource

    @abstractmethod
    def _connect(self) -> ConnT:
        """A new connection, driver errors already mapped against `self._resource`."""

    @property
    def _where(self) -> str:
        """How argument errors name the processor: `SqliteSink 'sqlite:orders'`."""
        return f"{type(self).__name__} '{self.name}'"

    def _start(self, obj: str | None) -> None:
        self._resource = self.BACKEND.locate(self.dsn, self.name, obj)
        self._conn = self._connect()

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class DatabaseSource(DatabaseProcessor[ConnT], Source):
    """A table or query read from a SQL database; a backend sets `BACKEND` and writes `_connect` and `read`.

    Args:
        dsn: where the database is (a connection URI; SQLite's file path).
        query / table: what to read (exactly one).
        columns: with `table`, read only these columns.
        batch_size: rows per batch.
        connect_timeout: seconds to wait for the server.
        name: processor name (default `<dialect>:<table>` or `<dialect>:query`).
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
            raise ConnectorError(f"{type(self).__name__} needs exactly one of query=... or table=...")
        self.dsn, self.query, self.table, self.columns = dsn, query, table, list(columns or [])
        self.batch_size, self.connect_timeout = batch_size, connect_timeout
        self.name = name or f"{self.BACKEND.dialect.name}:{table or 'query'}"
        self._conn = None

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        self._start(self.table or self.query)

    def _select_sql(self) -> str:
        """The SELECT to run: the table (and columns) rendered for the dialect, or the query as given."""
        if self.table is not None:
            return select_from(self.table, self.columns).sql(self.BACKEND.dialect.name)
        return str(self.query)

    def close(self, error: BaseException | None) -> None:
        self._disconnect()


class DatabaseSink(DatabaseProcessor[ConnT], Sink):
    """Batches written into one table in one transaction, made visible at `close(None)`.

    The shared life cycle: check mode/key before connecting; on the first batch
    check the key columns, create the table when asked and let the backend
    `_prepare`; refuse a batch whose columns differ; `_write` non-empty batches;
    at `close(None)` `_publish` then commit, at `close(error)` roll back. Both
    ends are mapped to towpath errors, so no driver exception leaks out of close.

    Args:
        dsn: where the database is (a connection URI; SQLite's file path).
        table: target `table` or `schema.table`.
        mode: append, overwrite (the table then holds exactly the written rows) or merge (insert or update by `key`).
        key: columns identifying a row, required for merge (the primary key when `create` makes the table).
        create: create the table from the first batch's schema when it does not exist.
        connect_timeout: seconds to wait for the server.
        name: processor name (default `<dialect>:<table>`).
    """

    COLUMNS_DIFFER: ClassVar[str] = "differ from"
    """Wording of the column-mismatch error before the first batch's column list."""

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
        self.name = name or f"{self.BACKEND.dialect.name}:{table}"
        check_write_args(mode, key, self._where)
        self.dsn, self.table, self.mode, self.key, self.create = dsn, table, mode, list(key), create
        self.connect_timeout = connect_timeout
        self._conn = None
        self._columns: list[str] | None = None
        self.rows_written = 0

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        self._start(self.table)

    def _execute(self, statement: exp.Expression) -> None:
        assert self._conn is not None
        with contextlib.closing(self._conn.cursor()) as cur:
            cur.execute(statement.sql(self.BACKEND.dialect.name))

    @abstractmethod
    def _prepare(self, schema: pa.Schema) -> None:
        """Ready the transaction for rows of `schema`; runs once, after `_columns` is set and the table created."""

    @abstractmethod
    def _write(self, batch: pa.RecordBatch) -> None:
        """Send one non-empty batch, whose columns are `_columns`."""

    def _publish(self) -> None:
        """Statements that run just before the commit (default: none)."""

    def write(self, batch: pa.RecordBatch) -> None:
        assert self._conn is not None, "open() first"
        with map_errors(self.BACKEND.errors, self._resource):
            if self._columns is None:
                check_key_columns(batch.schema, self.key, self._where)
                self._columns = list(batch.schema.names)
                if self.create:
                    key = self.key if self.mode == "merge" else ()
                    self._execute(create_table(self.table, batch.schema, self.BACKEND.dialect, key=key))
                self._prepare(batch.schema)
            elif batch.schema.names != self._columns:
                raise ConnectorError(
                    f"{self._where}: batch columns {batch.schema.names} {self.COLUMNS_DIFFER} {self._columns}"
                )
            if batch.num_rows:
                self._write(batch)
                self.rows_written += batch.num_rows

    def close(self, error: BaseException | None) -> None:
        if self._conn is None:
            return
        try:
            with map_errors(self.BACKEND.errors, self._resource):
                if error is None:
                    self._publish()
                    self._conn.commit()
                else:
                    self._conn.rollback()
        finally:
            self._disconnect()


class DbapiSink(DatabaseSink[ConnT]):
    """A sink that sends rows with `executemany` on one single-row INSERT (plus the dialect's merge clause).

    For drivers without a bulk protocol (sqlite3, pymysql): their C-level or
    multi-row-rewriting `executemany` is the fast path. overwrite deletes the
    table's rows inside the transaction, so readers see old or new rows, never none.
    """

    PLACEHOLDER: ClassVar[exp.Expression]
    """The driver's parameter marker (`?` or `%s`) as a sqlglot expression."""
    TO_DRIVER: ClassVar[dict[str, pa.DataType]] = {}
    """Arrow types the driver cannot bind, and what to cast them to first (see `batch_to_rows`)."""

    _insert = ""

    def _prepare(self, schema: pa.Schema) -> None:
        if self.mode == "overwrite":
            self._execute(delete_all(self.table))
        columns = list(schema.names)
        insert = insert_values(self.table, columns, self.PLACEHOLDER)
        if self.mode == "merge":
            insert.set("conflict", on_conflict_update(columns, self.key, self.BACKEND.dialect))
        self._insert = insert.sql(self.BACKEND.dialect.name)

    def _write(self, batch: pa.RecordBatch) -> None:
        assert self._conn is not None
        with contextlib.closing(self._conn.cursor()) as cur:
            cur.executemany(self._insert, batch_to_rows(batch, self.TO_DRIVER))

    def _publish(self) -> None:
        if self.mode == "overwrite" and self._columns is None:  # no batch came: the table ends up empty
            self._execute(delete_all(self.table))
