"""What the SQL-database connectors share: Arrow<->SQL types, DDL/DML as sqlglot expressions, errors,
and the life cycle of their sources and sinks (`DatabaseSource`, `DatabaseSink`, `DbapiSink`).

Each database states how it differs as data (a `SqlDialect` record), so the
PostgreSQL, SQLite and MySQL connectors build the same statements from the
same functions and only the rendering dialect changes. No SQL here is spliced
together from strings: table and column names go through `exp.to_table` /
`exp.to_identifier` with quoting forced, so a column called `order` or
`Merchant Id` is safe.
"""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ParseError

from towpath.errors import ConnectorError, TransientError
from towpath.pipeline import ProcessorContext, Sink, Source

SqlWriteMode = Literal["append", "replace", "upsert"]
"""append: add rows; replace: the table holds exactly the written rows; upsert: insert or update by `key`."""

WRITE_MODES: tuple[str, ...] = ("append", "replace", "upsert")


# -- errors ---------------------------------------------------------------------------------------


class DatabaseUnreachableError(ConnectorError, TransientError):
    """The database server did not answer at host:port (down, wrong port, firewall).

    Also a `TransientError`: a pipeline's retry policy may try again.
    """


class DatabaseAuthError(ConnectorError):
    """The server refused the login (wrong user, password or database name)."""


class UnknownObjectError(ConnectorError):
    """A table or column named in the connector's settings or query does not exist."""


class DatabaseError(ConnectorError):
    """Any other failure the database reported for the processor's statement."""


class DatabaseTransientError(DatabaseError, TransientError):
    """A failure the database itself says is worth retrying (deadlock, serialization failure, lost connection)."""


@dataclass(frozen=True)
class Resource:
    """What an error message names: the processor, the server and the object it was using."""

    processor: str
    server: str
    """`host:port` (or the file path for SQLite)."""
    user: str | None = None
    database: str | None = None
    obj: str | None = None
    """The table or query the processor was working on."""

    def describe(self) -> str:
        parts = [f"processor '{self.processor}'" if self.processor else "connector"]
        who = f"{self.user}@" if self.user else ""
        db = f"/{self.database}" if self.database else ""
        parts.append(f"database {who}{self.server}{db}")
        if self.obj:
            parts.append(f"object {self.obj}")
        return ", ".join(parts)


@dataclass(frozen=True)
class ErrorRule:
    """Map a driver exception to a towpath error when `match(exc)` says so."""

    driver_error: type[BaseException] | tuple[type[BaseException], ...]
    towpath_error: type[ConnectorError]
    explain: str
    """Sentence fragment appended to the message (what to check next)."""
    match: object = field(default=None)
    """Optional predicate `(exc) -> bool` narrowing the rule (e.g. by SQLSTATE)."""


@contextlib.contextmanager
def map_errors(rules: Sequence[ErrorRule], resource: Resource) -> Iterator[None]:
    """Turn driver exceptions into the most specific towpath error, as httpx's `map_exceptions` does.

    Errors towpath raised on purpose pass through untouched; a driver error no
    rule matches still becomes a `DatabaseError`, never a raw driver exception.
    """
    try:
        yield
    except (ConnectorError, TransientError):
        raise
    except Exception as exc:
        for rule in rules:
            if isinstance(exc, rule.driver_error) and (rule.match is None or rule.match(exc)):  # type: ignore[operator]
                raise rule.towpath_error(f"{resource.describe()}: {rule.explain}: {_first_line(exc)}") from exc
        raise DatabaseError(f"{resource.describe()}: {type(exc).__name__}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- identifiers ----------------------------------------------------------------------------------


def table_expr(name: str) -> exp.Table:
    """`schema.table` or `table` as a quoted sqlglot table (names are taken literally, case kept)."""
    parts = [p.strip() for p in name.split(".")]
    if not all(parts):
        raise ConnectorError(f"invalid table name '{name}': expected 'table' or 'schema.table'")
    ident = [exp.to_identifier(p, quoted=True) for p in parts]
    if len(ident) == 1:
        return exp.Table(this=ident[0])
    if len(ident) == 2:
        return exp.Table(this=ident[1], db=ident[0])
    return exp.Table(this=ident[2], db=ident[1], catalog=ident[0])


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True), table=exp.to_identifier(table) if table else None)


def quote_ident(name: str, dialect: str) -> str:
    """One identifier rendered for `dialect` (for driver APIs that take a name, e.g. `cursor.copy`)."""
    return exp.to_identifier(name, quoted=True).sql(dialect)


# -- types ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlDialect:
    """How one database differs, as data."""

    name: str
    """sqlglot dialect name."""
    key_text_type: str
    """Text type usable in a primary key (MySQL cannot index unbounded TEXT)."""
    timestamptz_type: str
    """Type for an Arrow timestamp with a time zone."""
    binary_type: str
    verbatim_types: bool = False
    """Render declared types as written. SQLite stores any type name and derives affinity from it,
    so keeping `DECIMAL(10, 2)` or `BOOLEAN` lets a reader map the column back to its Arrow type
    (sqlglot's SQLite generator would rewrite them to REAL and INTEGER)."""


POSTGRES = SqlDialect("postgres", "TEXT", "TIMESTAMPTZ", "BYTEA")
SQLITE = SqlDialect("sqlite", "TEXT", "TIMESTAMPTZ", "BLOB", verbatim_types=True)
MYSQL = SqlDialect("mysql", "VARCHAR(255)", "DATETIME(6)", "LONGBLOB")


def sql_type(arrow_type: pa.DataType, dialect: SqlDialect, *, key: bool = False) -> exp.DataType:
    """The SQL column type for an Arrow type, rendered later for `dialect`.

    >>> sql_type(pa.int64(), POSTGRES).sql("postgres")
    'BIGINT'
    """
    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        name = "BOOLEAN"
    elif pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        name = "SMALLINT"
    elif pa.types.is_int32(t) or pa.types.is_uint16(t):
        name = "INT"
    elif pa.types.is_integer(t):
        name = "BIGINT"
    elif pa.types.is_float16(t) or pa.types.is_float32(t):
        name = "REAL" if dialect is POSTGRES else "FLOAT"
    elif pa.types.is_floating(t):
        name = "DOUBLE"
    elif pa.types.is_decimal(t):
        name = f"DECIMAL({t.precision}, {t.scale})"
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        name = dialect.key_text_type if key else "TEXT"
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        name = dialect.binary_type
    elif pa.types.is_date(t):
        name = "DATE"
    elif pa.types.is_timestamp(t):
        if t.tz is not None:
            name = dialect.timestamptz_type
        else:
            name = "DATETIME(6)" if dialect is MYSQL else "TIMESTAMP"
    elif pa.types.is_time(t):
        name = "TIME"
    elif pa.types.is_null(t):
        name = "TEXT"
    else:
        raise ConnectorError(
            f"no {dialect.name} column type for Arrow type {t}; cast the column to a scalar type first"
        )
    if dialect.verbatim_types:
        return exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=name)
    return exp.DataType.build(name, dialect=dialect.name)


def create_table(
    table: str, schema: pa.Schema, dialect: SqlDialect, *, key: Sequence[str] = (), if_not_exists: bool = True
) -> exp.Create:
    """CREATE TABLE for an Arrow schema; `key` columns become NOT NULL and the primary key."""
    keys = set(key)
    defs: list[exp.Expression] = []
    for f in schema:
        constraints = [exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())] if f.name in keys else []
        defs.append(
            exp.ColumnDef(
                this=exp.to_identifier(f.name, quoted=True),
                kind=sql_type(f.type, dialect, key=f.name in keys),
                constraints=constraints,
            )
        )
    if key:
        defs.append(exp.PrimaryKey(expressions=[exp.to_identifier(k, quoted=True) for k in key]))
    return exp.Create(
        this=exp.Schema(this=table_expr(table), expressions=defs), kind="TABLE", exists=if_not_exists
    )


def create_staging(staging: str, target: str, columns: Sequence[str]) -> exp.Create:
    """A temporary table shaped like `target`'s `columns` (no constraints), for staging writes."""
    select = exp.select(*(column(c) for c in columns)).from_(table_expr(target)).limit(0)
    return exp.Create(
        this=table_expr(staging),
        kind="TABLE",
        expression=select,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def drop_table(table: str) -> exp.Drop:
    return exp.Drop(tables=[table_expr(table)], kind="TABLE", exists=True)


def select_from(table: str, columns: Sequence[str] | None = None) -> exp.Select:
    cols = [column(c) for c in columns] if columns else [exp.Star()]
    return exp.select(*cols).from_(table_expr(table))


def delete_all(table: str) -> exp.Delete:
    """DELETE FROM table: transactional everywhere (MySQL's TRUNCATE commits implicitly)."""
    return exp.delete(table_expr(table))


def insert_values(table: str, columns: Sequence[str], placeholder: exp.Expression) -> exp.Insert:
    """INSERT INTO table (cols) VALUES (?, ?, ...) for `executemany`."""
    return exp.Insert(
        this=exp.Schema(this=table_expr(table), expressions=[exp.to_identifier(c, quoted=True) for c in columns]),
        expression=exp.Values(expressions=[exp.Tuple(expressions=[placeholder.copy() for _ in columns])]),
    )


def insert_select(target: str, columns: Sequence[str], query: exp.Select) -> exp.Insert:
    return exp.Insert(
        this=exp.Schema(this=table_expr(target), expressions=[exp.to_identifier(c, quoted=True) for c in columns]),
        expression=query,
    )


def on_conflict_update(columns: Sequence[str], key: Sequence[str], dialect: SqlDialect) -> exp.OnConflict:
    """The upsert clause for `dialect`: ON CONFLICT (key) DO UPDATE / ON DUPLICATE KEY UPDATE.

    Columns other than the key take the incoming row's value; with nothing but
    key columns the conflict is ignored (DO NOTHING / a no-op self-assignment).
    """
    rest = [c for c in columns if c not in set(key)]
    if dialect is MYSQL:
        targets = rest or list(key)[:1]
        sets = [
            exp.EQ(this=column(c), expression=exp.Anonymous(this="VALUES", expressions=[column(c)]))
            for c in targets
        ]
        return exp.OnConflict(duplicate=True, expressions=sets, action=exp.var("UPDATE"))
    keys = [column(k) for k in key]
    if not rest:
        return exp.OnConflict(conflict_keys=keys, action=exp.var("DO NOTHING"))
    sets = [exp.EQ(this=column(c), expression=column(c, "excluded")) for c in rest]
    return exp.OnConflict(conflict_keys=keys, expressions=sets, action=exp.var("DO UPDATE"))


def check_write_args(mode: str, key: Sequence[str], where: str) -> None:
    """Fail early (before any connection) on a mode/key combination that cannot work."""
    if mode not in WRITE_MODES:
        raise ConnectorError(f"{where}: unknown mode '{mode}'; expected one of {', '.join(WRITE_MODES)}")
    if mode == "upsert" and not key:
        raise ConnectorError(f"{where}: mode 'upsert' needs key=[...] naming the columns that identify a row")


def check_key_columns(schema: pa.Schema, key: Sequence[str], where: str) -> None:
    missing = [k for k in key if k not in schema.names]
    if missing:
        raise UnknownObjectError(f"{where}: key column(s) {missing} are not in the data (columns: {schema.names})")


def rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Regroup a stream into batches of exactly `size` rows (the last may be smaller)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        rows += batch.num_rows
        while rows >= size:
            table = pa.Table.from_batches(pending)
            head, tail = table.slice(0, size), table.slice(size)
            yield head.combine_chunks().to_batches()[0]
            pending = tail.combine_chunks().to_batches() if tail.num_rows else []
            rows = tail.num_rows
    if rows:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


# -- row-API drivers (sqlite3, pymysql) -----------------------------------------------------------

_SQL_TO_ARROW: dict[Any, pa.DataType] = {  # keys: exp.DataType.Type members
    exp.DataType.Type.BOOLEAN: pa.bool_(),
    exp.DataType.Type.TINYINT: pa.int8(),
    exp.DataType.Type.SMALLINT: pa.int16(),
    exp.DataType.Type.INT: pa.int64(),
    exp.DataType.Type.MEDIUMINT: pa.int32(),
    exp.DataType.Type.BIGINT: pa.int64(),
    exp.DataType.Type.FLOAT: pa.float64(),
    exp.DataType.Type.DOUBLE: pa.float64(),
    exp.DataType.Type.DATE: pa.date32(),
    exp.DataType.Type.DATETIME: pa.timestamp("us"),
    exp.DataType.Type.TIMESTAMP: pa.timestamp("us"),
    exp.DataType.Type.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    exp.DataType.Type.BLOB: pa.binary(),
    exp.DataType.Type.VARBINARY: pa.binary(),
}
"""Declared SQL type -> Arrow; text-like and unknown types map to string."""


def arrow_type_for_declared(declared: str | None) -> pa.DataType | None:
    """Arrow type for a declared column type (`INTEGER`, `DECIMAL(10,2)`, `DATE`...); None if undeclared.

    SQLite's INTEGER is 64-bit, so INT-family declarations become int64 there.
    """
    if not declared:
        return None
    try:
        dtype = exp.DataType.build(declared)
    except (ParseError, ValueError):  # an odd declaration (SQLite allows any words): treat it as text
        return pa.string()
    if dtype.this == exp.DataType.Type.DECIMAL:
        params = [int(p.name) for p in dtype.expressions if p.name.isdigit()]
        if params and params[0] <= 38:
            return pa.decimal128(params[0], params[1] if len(params) > 1 else 0)
        return pa.string()
    return _SQL_TO_ARROW.get(dtype.this, pa.string())


def column_from_values(values: Sequence[object], target: pa.DataType | None, name: str, where: str) -> pa.Array:
    """One Arrow column from driver values, converted to `target` (inferred when None).

    Drivers hand dates back as text (SQLite) or mixed Python types; build the
    array as-is first and let Arrow's casts (string->date, float->decimal,
    int->bool) do the conversion in C++.
    """
    try:
        if target is not None:
            try:
                return pa.array(values, type=target)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
                pass
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            array = pa.array([None if v is None else str(v) for v in values], pa.string())
        if target is None:
            return array.cast(pa.string()) if pa.types.is_null(array.type) else array
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ConnectorError(f"{where}: column '{name}' holds values that do not fit {target}: {exc}") from None


def fetch_batches(cursor: Any, types: Sequence[pa.DataType | None], size: int, where: str) -> Iterator[pa.RecordBatch]:
    """Batches of `size` rows from an executed DB-API cursor, typed by `types` (None: inferred).

    Later batches keep the first batch's types, so a column inferred from its
    first values does not change type mid-stream.
    """
    names = [d[0] for d in cursor.description]
    types = list(types)
    while rows := cursor.fetchmany(size):
        batch = rows_to_batch(rows, names, types, where)
        types = list(batch.schema.types)
        yield batch


def rows_to_batch(rows: Sequence[Sequence[object]], names: Sequence[str], types: Sequence[pa.DataType | None],
                  where: str) -> pa.RecordBatch:
    """Transpose driver rows (tuples) into a record batch, one C-level array build per column."""
    columns = list(zip(*rows)) if rows else [() for _ in names]
    arrays = [column_from_values(col, t, n, where) for col, t, n in zip(columns, types, names)]
    return pa.RecordBatch.from_arrays(arrays, names=list(names))


def batch_to_rows(batch: pa.RecordBatch, to_driver: dict[str, pa.DataType] | None = None) -> list[tuple[object, ...]]:
    """Rows for `executemany`, after casting columns whose Arrow type the driver cannot bind (`to_driver`)."""
    cols = []
    for f, col in zip(batch.schema, batch.columns):
        for predicate, target in (to_driver or {}).items():
            if getattr(pa.types, predicate)(f.type):
                col = col.cast(target)
                break
        cols.append(col.to_pylist())
    return list(zip(*cols))


# -- processor life cycles ------------------------------------------------------------------------


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
        mode: append, replace (the table then holds exactly the written rows) or upsert.
        key: columns identifying a row, required for upsert (the primary key when `create` makes the table).
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
                    key = self.key if self.mode == "upsert" else ()
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
    """A sink that sends rows with `executemany` on one single-row INSERT (plus the dialect's upsert clause).

    For drivers without a bulk protocol (sqlite3, pymysql): their C-level or
    multi-row-rewriting `executemany` is the fast path. replace deletes the
    table's rows inside the transaction, so readers see old or new rows, never none.
    """

    PLACEHOLDER: ClassVar[exp.Expression]
    """The driver's parameter marker (`?` or `%s`) as a sqlglot expression."""
    TO_DRIVER: ClassVar[dict[str, pa.DataType]] = {}
    """Arrow types the driver cannot bind, and what to cast them to first (see `batch_to_rows`)."""

    _insert = ""

    def _prepare(self, schema: pa.Schema) -> None:
        if self.mode == "replace":
            self._execute(delete_all(self.table))
        columns = list(schema.names)
        insert = insert_values(self.table, columns, self.PLACEHOLDER)
        if self.mode == "upsert":
            insert.set("conflict", on_conflict_update(columns, self.key, self.BACKEND.dialect))
        self._insert = insert.sql(self.BACKEND.dialect.name)

    def _write(self, batch: pa.RecordBatch) -> None:
        assert self._conn is not None
        with contextlib.closing(self._conn.cursor()) as cur:
            cur.executemany(self._insert, batch_to_rows(batch, self.TO_DRIVER))

    def _publish(self) -> None:
        if self.mode == "replace" and self._columns is None:  # no batch came: the table ends up empty
            self._execute(delete_all(self.table))
