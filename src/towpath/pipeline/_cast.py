"""Vectorised per-row casting: which rows cast, which do not, without a Python loop.

pyarrow's `cast` fails the whole array on one bad value. The fast path casts the
whole array; only when that fails we ask DuckDB's `TRY_CAST` (vectorised, null
on failure) and mark rows whose input was not null but whose result is.
DuckDB rounds text such as '1.5' into an integer (2) or '1.234' into
DECIMAL(10,2) (1.23); a cast that loses digits is a failed row here, so text
bound for integers or decimals must also have the literal shape of one.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot.expressions as exp

from towpath.pipeline.errors import PipelineDefinitionError
from towpath.types import TypeNameError, to_arrow_type

_DUCKDB_TYPES: dict[str, str] = {
    "bool": "BOOLEAN", "int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT",
    "uint8": "UTINYINT", "uint16": "USMALLINT", "uint32": "UINTEGER", "uint64": "UBIGINT",
    "halffloat": "FLOAT", "float": "FLOAT", "double": "DOUBLE", "string": "VARCHAR", "large_string": "VARCHAR",
    "date32[day]": "DATE", "binary": "BLOB", "large_binary": "BLOB",
}
"""Arrow type -> DuckDB type for the TRY_CAST fallback; timestamps and decimals are derived."""


def parse_type(value: str | pa.DataType) -> pa.DataType:
    """A user's type name (`"long"`, `"decimal(10,2)"`, or an Arrow alias such as `"int64"`) -> `pa.DataType`."""
    try:
        return to_arrow_type(value)
    except TypeNameError as exc:
        raise PipelineDefinitionError(str(exc)) from None


def _duckdb_type(target: pa.DataType) -> str:
    if pa.types.is_timestamp(target):
        return "TIMESTAMPTZ" if target.tz else "TIMESTAMP"
    if pa.types.is_decimal(target):
        return f"DECIMAL({target.precision},{target.scale})"
    name = str(target)
    if name not in _DUCKDB_TYPES:
        raise PipelineDefinitionError(f"cannot cast per row to {target}: no vectorised fallback for this type")
    return _DUCKDB_TYPES[name]


def try_cast(values: pa.Array | pa.ChunkedArray, target: pa.DataType) -> tuple[pa.Array, pa.Array]:
    """Cast `values` to `target`; return (result with nulls where it failed, failed-row mask)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    try:
        result = pc.cast(values, target, safe=True)
        return result, _falses(len(values))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    import duckdb

    query = exp.select(
        exp.TryCast(this=exp.column("v"), to=exp.DataType.build(_duckdb_type(target), dialect="duckdb")).as_("v")
    ).from_("input_values")
    con = duckdb.connect()
    try:
        con.register("input_values", pa.table({"v": values}))
        out = con.sql(query.sql(dialect="duckdb")).to_arrow_table().column("v").combine_chunks()
    finally:
        con.close()
    result = out.cast(target, safe=False)
    failed = pc.and_(pc.is_valid(values), pc.is_null(result))
    shape = _literal_shape(target)
    if shape is not None and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        lossy = pc.and_kleene(pc.is_valid(values), pc.invert(pc.match_substring_regex(values, shape)))
        failed = pc.or_(failed, lossy)
        result = pc.if_else(failed, pa.scalar(None, target), result)
    return result, failed


def _literal_shape(target: pa.DataType) -> str | None:
    """The regex text must match to cast to `target` without losing digits (None: any text DuckDB takes)."""
    if pa.types.is_integer(target):
        return r"^\s*[+-]?[0-9]+\s*$"
    if pa.types.is_decimal(target):
        return r"^\s*[+-]?[0-9]*(\.[0-9]{0," + str(target.scale) + r"})?\s*$"
    return None


def _falses(n: int) -> pa.Array:
    return pa.nulls(n, pa.bool_()).fill_null(False)
