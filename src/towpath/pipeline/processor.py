"""The processor contract every pipeline stage, source and sink implements.

A `Processor` receives Arrow record batches and emits record batches; sources
only emit, sinks only consume. The `Pipeline` runs each processor in its own
thread(s) connected by bounded queues. Sinks must make their output visible
only in `close(error=None)`; on `close(error)` they discard what they staged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa


@dataclass
class ProcessorContext:
    """What a running processor may use: its name, an error router, shared settings."""

    name: str
    errors: Any = None
    """An `ErrorSink`-like object: `errors.put(rows: pa.Table, processor: str, reason: str | pa.Array)`."""
    settings: dict[str, Any] = field(default_factory=dict)


class Processor:
    """Receives batches and emits batches. Subclasses override `process` (and maybe `finish`)."""

    kind: ClassVar[str] = "transform"
    name: str = ""

    def open(self, ctx: ProcessorContext) -> None:
        """Acquire resources (connections, files). Called once, in the processor's thread."""
        self.ctx = ctx

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        """Transform one batch into zero or more batches."""
        yield batch

    def finish(self) -> Iterable[pa.RecordBatch]:
        """Emit anything held back (aggregates, buffered rows) after the last input batch."""
        return ()

    def close(self, error: BaseException | None) -> None:
        """Release resources. `error` is None on success; sinks publish only then."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Source(Processor, ABC):
    """Produces batches; never receives any."""

    kind: ClassVar[str] = "source"

    @abstractmethod
    def read(self) -> Iterator[pa.RecordBatch]:
        """Yield the source's batches."""

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        raise TypeError(f"{self!r} is a source and takes no input")

    def size(self) -> int | None:
        """Total input bytes, when known up front (files); drives progress bars."""
        return None

    def position(self) -> int | None:
        """Input bytes consumed so far, when `size()` is known."""
        return None


class Sink(Processor, ABC):
    """Consumes batches; emits nothing. Stage writes in `write`, publish in `close(None)`."""

    kind: ClassVar[str] = "sink"

    @abstractmethod
    def write(self, batch: pa.RecordBatch) -> None:
        """Stage one batch; make it visible only in `close(None)`."""

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        self.write(batch)
        return ()
