"""What the SQL-database connectors share: Arrow<->SQL types, DDL/DML as sqlglot expressions, errors.

Each database states how it differs as data (a `SqlDialect` record), so the
PostgreSQL, SQLite and MySQL connectors build the same statements from the
same functions and only the rendering dialect changes. No SQL here is spliced
together from strings: table and column names go through `exp.to_table` /
`exp.to_identifier` with quoting forced, so a column called `order` or
`Merchant Id` is safe.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ParseError

from towpath.errors import ConnectorError, TransientError

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
