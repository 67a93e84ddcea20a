"""Everything a move checks before it writes one key.

Unknown columns and types protobuf cannot carry come from schema generation;
null and duplicate keys from one pass over the key columns only (a column
projection of the pinned source, grouped by Arrow's C++ hash aggregation).
Each problem is a `SpecError` at the YAML line that chose the columns, with a
sample of the offending keys, and nothing has been created yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from towpath.errors import SpecError
from towpath.moves.source import MoveSource
from towpath.moves.spec import MoveSpec
from towpath.protobuf import FieldNumbers, ProtoSchema, ProtoSchemaError, generate_schema

SAMPLE = 5


@dataclass(frozen=True)
class Validated:
    proto: ProtoSchema
    rows: int
    """Source rows."""
    keys: int
    """Distinct keys: what the version must hold."""


def build_schema(spec: MoveSpec, source: MoveSource, numbers: FieldNumbers | None) -> ProtoSchema:
    """The version's proto schema; a column problem is reported at the YAML list that names the column."""
    movement, proto = spec.data_movement, spec.protobuf
    try:
        return generate_schema(
            source.schema, movement.key_columns, movement.value_columns, package=proto.package,
            key_message=proto.key_message, value_message=proto.value_message, numbers=numbers,
            file_name=f"{spec.alias}.proto",
        )
    except ProtoSchemaError as exc:
        field = "key_columns"
        if exc.column is not None and exc.column not in movement.key_columns:
            field = "value_columns" if movement.value_columns and exc.column in movement.value_columns else "source"
        loc: tuple[str | int, ...] = ("data_movement", field)
        columns = getattr(movement, field, None)
        if isinstance(columns, list) and exc.column in columns:
            loc += (columns.index(exc.column),)
        file, line = spec.locate(*loc)
        raise SpecError(str(exc), file=file, line=line, field=".".join(map(str, loc[:2]))) from None


def validate(spec: MoveSpec, source: MoveSource, numbers: FieldNumbers | None) -> Validated:
    """Schema, null keys and duplicate keys (with `on_duplicate: error`), before anything is written."""
    proto = build_schema(spec, source, numbers)
    keys = spec.data_movement.key_columns
    key_type = source.schema.field(keys[0]).type if keys[0] in source.schema.names else None
    integers = _IntegerKeys(key_type, source.rows) if len(keys) == 1 and key_type and pa.types.is_integer(key_type) else None
    parts: list[pa.RecordBatch] = []
    rows = 0
    for batch in source.batches(keys, 1_000_000):
        for name in keys:
            column = batch.column(name)
            if column.null_count:
                _raise(spec, f"key column '{name}' is null in {column.null_count} row(s) of this batch",
                       batch.filter(pc.is_null(column)).slice(0, SAMPLE))
        if integers is not None:
            integers.extend(batch.column(0).to_numpy())
        else:
            parts.append(_plain(batch))
        rows += batch.num_rows
    if not rows:
        return Validated(proto, 0, 0)
    counts = integers.duplicates(keys[0]) if integers is not None else _duplicates(parts, keys)
    distinct = rows - int(pc.sum(pc.subtract(counts.column("count_all"), 1)).as_py() or 0)
    if distinct != rows and spec.data_movement.on_duplicate == "error":
        _raise(spec, f"{rows - distinct} duplicate key row(s) over {counts.num_rows} key(s) "
               "(set `on_duplicate: last` to keep the last row of each)", counts.slice(0, SAMPLE))
    return Validated(proto, rows, distinct)


def _duplicates(parts: list[pa.RecordBatch], keys: list[str]) -> pa.Table:
    """The keys that occur more than once, with `count_all` (`parts` is emptied as it is read)."""
    table = pa.Table.from_batches(parts)
    parts.clear()
    counts = table.group_by(keys, use_threads=True).aggregate([([], "count_all")])
    return counts.filter(pc.greater(counts.column("count_all"), 1))


class _IntegerKeys:
    """One integer key column (the common case), copied into one numpy array and sorted in place.

    One copy of the column, sized up front when the source knows its row
    count: a hash aggregation over 10M keys costs several times that, and
    concatenating batches at the end would hold the column twice.
    """

    def __init__(self, dtype: pa.DataType, rows: int | None) -> None:
        self.dtype = dtype
        self.values = np.empty(rows or 1 << 16, dtype=dtype.to_pandas_dtype())
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.values):
            self.values = np.resize(self.values, max(end, len(self.values) * 3 // 2))
        self.values[self.size:end] = values
        self.size = end

    def duplicates(self, name: str) -> pa.Table:
        values = self.values[:self.size]
        values.sort()
        repeated = values[1:] == values[:-1]
        dup_values, dup_counts = np.unique(values[1:][repeated], return_counts=True)
        self.values = values[:0]
        return pa.table({name: pa.array(dup_values, self.dtype), "count_all": pa.array(dup_counts + 1, pa.int64())})


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Extension columns (uuid) as their storage, which hash aggregation supports."""
    arrays = [c.storage if isinstance(c, pa.ExtensionArray) else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _raise(spec: MoveSpec, message: str, sample: pa.Table | pa.RecordBatch) -> None:
    file, line = spec.locate("data_movement", "key_columns")
    shown = "; ".join(json.dumps(row, default=_show) for row in sample.to_pylist())
    raise SpecError(f"{message}; e.g. {shown}", file=file, line=line, field="data_movement.key_columns")


def _show(value: Any) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)
