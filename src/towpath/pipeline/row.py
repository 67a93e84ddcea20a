"""Row-level convenience for custom code: functions of one dict row.

Built-ins never go row by row; this is for user logic that is easier to write
per row (and is the slow path: one Python call per row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pyarrow as pa

from towpath.pipeline.processor import Processor

Row = dict[str, Any]
RowResult = Row | None | list[Row]


class RowProcessor(Processor):
    """Override `process_row(row) -> dict | None | list[dict]` (None drops the row).

    Args:
        schema: the output schema; inferred from the rows when not given (an
            all-null column then comes out as `null` type, so pass it when it matters).
    """

    def __init__(self, *, schema: pa.Schema | None = None, name: str | None = None) -> None:
        self.schema = schema
        if name:
            self.name = name

    def process_row(self, row: Row) -> RowResult:
        return row

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        out: list[Row] = []
        for row in batch.to_pylist():
            result = self.process_row(row)
            if result is None:
                continue
            if isinstance(result, list):
                out.extend(result)
            else:
                out.append(result)
        if out:
            yield pa.RecordBatch.from_pylist(out, schema=self.schema)


class _FunctionRowProcessor(RowProcessor):
    def __init__(self, fn: Callable[[Row], RowResult], *, schema: pa.Schema | None, name: str | None) -> None:
        super().__init__(schema=schema, name=name or fn.__name__)
        self.fn = fn

    def process_row(self, row: Row) -> RowResult:
        return self.fn(row)


def row_processor(fn: Callable[[Row], RowResult] | None = None, *, schema: pa.Schema | None = None,
                  name: str | None = None) -> Any:
    """Turn `fn(row: dict) -> dict | None | list[dict]` into a factory of `RowProcessor`s.

    >>> @row_processor
    ... def shout(row):
    ...     return {**row, "name": row["name"].upper()}
    >>> list(shout().process(pa.record_batch({"name": ["ada"]})))[0].to_pylist()
    [{'name': 'ADA'}]
    """
    def wrap(f: Callable[[Row], RowResult]) -> Callable[..., RowProcessor]:
        def factory(**overrides: Any) -> RowProcessor:
            return _FunctionRowProcessor(f, schema=overrides.get("schema", schema), name=overrides.get("name", name))
        factory.__name__ = f.__name__
        factory.__doc__ = f.__doc__
        return factory

    return wrap(fn) if fn is not None else wrap
