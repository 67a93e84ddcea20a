"""In-memory source and sink: feed a pipeline from a table, collect what reaches the end.

Handy in tests and notebooks; `Collect` publishes its table only on success,
like every other sink.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import ClassVar

import pyarrow as pa

from towpath.pipeline.processor import ProcessorContext, Sink, Source


class TableSource(Source):
    """Emit `data` (a Table, or batches) in batches of at most `batch_rows` rows."""

    def __init__(self, data: pa.Table | Iterable[pa.RecordBatch], *, batch_rows: int = 65_536,
                 name: str | None = None) -> None:
        self.data = data if isinstance(data, pa.Table) else pa.Table.from_batches(list(data))
        self.batch_rows = batch_rows
        if name:
            self.name = name

    def read(self) -> Iterator[pa.RecordBatch]:
        yield from self.data.to_batches(max_chunksize=self.batch_rows)


class Collect(Sink):
    """Keep every batch; `table` holds them after a successful run (None after a failed one)."""

    STATEFUL: ClassVar[bool] = True

    def __init__(self, *, name: str | None = None) -> None:
        if name:
            self.name = name
        self.table: pa.Table | None = None
        self.batches: list[pa.RecordBatch] = []
        self._lock = threading.Lock()

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        self.batches, self.table = [], None

    def write(self, batch: pa.RecordBatch) -> None:
        with self._lock:
            self.batches.append(batch)

    def close(self, error: BaseException | None) -> None:
        if error is None:
            self.table = pa.Table.from_batches(self.batches) if self.batches else pa.table({})
        else:
            self.batches = []
