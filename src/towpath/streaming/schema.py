"""The table's schema: detected from the first messages, created with its partitioning, evolved additively.

Detection is Arrow's JSON/CSV type inference over the first N messages plus
what inference leaves as strings: ISO-8601 values become `timestamp` (with a
zone offset: timestamptz) or `date`. Columns that were null in every sampled
message become strings. Nested JSON objects stay structs.

Evolution is additive only: a field the table lacks becomes a new nullable
column (one schema commit before the window's data commit). A value that does
not fit an existing column's type is a dead letter, decided by the decoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from towpath.catalog import Catalog, apply_ddl, normalize_identifier
from towpath.errors import SchemaMismatchError

_SIMPLE = {
    pa.bool_(): "boolean", pa.int8(): "int", pa.int16(): "int", pa.int32(): "int", pa.int64(): "bigint",
    pa.uint8(): "int", pa.uint16(): "int", pa.uint32(): "bigint", pa.float32(): "float", pa.float64(): "double",
    pa.string(): "string", pa.large_string(): "string", pa.binary(): "binary", pa.large_binary(): "binary",
    pa.date32(): "date", pa.null(): "string",
}


def recognise(rows: pa.Table) -> pa.Table:
    """`rows` with ISO-8601 string columns as timestamps or dates, and all-null columns as strings."""
    columns = []
    for column in rows.columns:
        if pa.types.is_null(column.type):
            column = column.cast(pa.string())
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = _temporal(column)
        columns.append(column)
    return pa.table(columns, names=rows.column_names)


def _temporal(column: pa.ChunkedArray) -> pa.ChunkedArray:
    values = column.drop_null()
    if len(values) == 0:
        return column
    lengths = pc.utf8_length(values)
    if pc.all(pc.equal(lengths, 10)).as_py():
        try:
            return column.cast(pa.date32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return column
    if not pc.all(pc.match_substring_regex(values, r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")).as_py():
        return column
    for target in (pa.timestamp("us", "UTC"), pa.timestamp("us")):
        try:
            return column.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return column


def spark_type(arrow: pa.DataType) -> str:
    """The Spark SQL type name of an Arrow type (what the catalog's DDL understands)."""
    if arrow in _SIMPLE:
        return _SIMPLE[arrow]
    if pa.types.is_timestamp(arrow):
        return "timestamp" if arrow.tz else "timestamp_ntz"
    if pa.types.is_decimal(arrow):
        return f"decimal({arrow.precision},{arrow.scale})"
    if pa.types.is_struct(arrow):
        return "struct<" + ",".join(f"{f.name}:{spark_type(f.type)}" for f in arrow) + ">"
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return f"array<{spark_type(arrow.value_type)}>"
    if pa.types.is_map(arrow):
        return f"map<{spark_type(arrow.key_type)},{spark_type(arrow.item_type)}>"
    return "string"


def create_table(catalog: Catalog, identifier: str, schema: pa.Schema, partition_by: Sequence[str] = ()) -> None:
    """Create `identifier` (unless it exists) with `schema`'s columns, all nullable, partitioned by the transforms."""
    create_table_from_columns(catalog, identifier, {f.name: spark_type(f.type) for f in schema}, partition_by)


def create_table_from_columns(
    catalog: Catalog, identifier: str, columns: Mapping[str, str], partition_by: Sequence[str] = ()
) -> None:
    """Create `identifier` (unless it exists) from column name -> Spark type, partitioned by the transforms."""
    ident = normalize_identifier(identifier)
    defs = [
        exp.ColumnDef(this=exp.to_identifier(name), kind=exp.DataType.build(kind, dialect="spark"))
        for name, kind in columns.items()
    ]
    properties: list[exp.Expression] = [exp.FileFormatProperty(this=exp.var("ICEBERG"))]
    if partition_by:
        transforms = [sqlglot.parse_one(item, read="spark") for item in partition_by]
        properties.append(exp.PartitionedByProperty(this=exp.Schema(expressions=transforms)))
    create = exp.Create(
        this=exp.Schema(this=exp.to_table(ident), expressions=defs), kind="TABLE", exists=True,
        properties=exp.Properties(expressions=properties),
    )
    try:
        apply_ddl(catalog, create)
    except SchemaMismatchError:
        if not catalog.exists(ident):
            raise
        # another worker created it first from its own sample: keep its schema; new fields are added additively


def add_columns(catalog: Catalog, identifier: str, rows: pa.Table) -> list[str]:
    """Add every column of `rows` the table lacks as a nullable column; returns their names."""
    known = {name.lower() for name in catalog.table(identifier).schema().column_names}
    new = [f for f in rows.schema if f.name.lower() not in known]
    if not new:
        return []
    addition = pa.schema([pa.field(f.name, recognise_type(f.type), nullable=True) for f in new])

    def attempt(table: object) -> None:
        with table.update_schema() as update:  # type: ignore[attr-defined]
            update.union_by_name(addition)

    catalog.commit_with_retry(identifier, attempt, what="adding new message fields as columns")
    return [f.name for f in new]


def recognise_type(arrow: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_null(arrow) else arrow
