"""Small processors used by the pipeline tests (real threads, real timing, no mocks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

import pyarrow as pa

from towpath.errors import TransientError
from towpath.pipeline import Processor, Sink, Source


def numbers(n: int, batch_rows: int = 10) -> pa.Table:
    return pa.table({"id": pa.array(range(n), pa.int64()), "v": pa.array([i * 10 for i in range(n)], pa.int64())})


class Sleep(Processor):
    """Holds each batch for `seconds` (time.sleep releases the GIL, like I/O would)."""

    def __init__(self, seconds: float, *, jitter: bool = False, name: str | None = None) -> None:
        self.seconds, self.jitter = seconds, jitter
        if name:
            self.name = name

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        first = batch.column("id")[0].as_py()
        # jitter: early batches are slowest, so unordered output really comes out of order
        time.sleep(self.seconds * (3 if self.jitter and first % 40 == 0 else 1))
        yield batch


class SlowSink(Sink):
    """A sink that takes `seconds` per batch and records how many batches were in flight upstream."""

    STATEFUL = True

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        time.sleep(self.seconds)
        self.rows += batch.num_rows


class CountingSource(Source):
    """Emits `batches` batches of `rows` rows and records how far it got."""

    def __init__(self, batches: int, rows: int = 10, *, interrupt_at: int | None = None) -> None:
        self.batches, self.rows, self.interrupt_at = batches, rows, interrupt_at
        self.emitted = 0

    def read(self) -> Iterator[pa.RecordBatch]:
        for i in range(self.batches):
            if self.interrupt_at is not None and i == self.interrupt_at:
                raise KeyboardInterrupt
            start = i * self.rows
            self.emitted += 1
            yield pa.record_batch({"id": pa.array(range(start, start + self.rows), pa.int64())})


class FailOn(Processor):
    """Raises ValueError on the batch with index `index` (0-based)."""

    def __init__(self, index: int) -> None:
        self.index, self.seen = index, 0

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if self.seen == self.index:
            raise ValueError("boom")
        self.seen += 1
        yield batch


class Flaky(Processor):
    """Raises TransientError the first `failures` times it is called, then passes batches through."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0
        self._lock = threading.Lock()

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        with self._lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise TransientError(f"try {self.calls} failed")
        yield batch
