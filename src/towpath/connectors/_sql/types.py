"""Arrow <-> SQL column types, and how each database differs, as data (`SqlDialect`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ParseError

from towpath.errors import ConnectorError


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
    charset: str | None = None
    """Character set a created table declares (MariaDB's server default, latin1, loses text)."""


POSTGRES = SqlDialect("postgres", "TEXT", "TIMESTAMPTZ", "BYTEA")
SQLITE = SqlDialect("sqlite", "TEXT", "TIMESTAMPTZ", "BLOB", verbatim_types=True)
MYSQL = SqlDialect("mysql", "VARCHAR(255)", "DATETIME(6)", "LONGBLOB", charset="utf8mb4")


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
