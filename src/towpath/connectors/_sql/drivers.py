"""Batches in and out of row-API drivers (sqlite3, pymysql): Arrow columns from driver values and back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from towpath.errors import ConnectorError


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
