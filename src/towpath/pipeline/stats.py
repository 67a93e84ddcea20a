"""Per-processor counters and pipeline totals; plain dataclasses, JSON-serialisable."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ProcessorStats:
    """What one processor did. `busy_seconds` sums the time all its workers spent working."""

    name: str
    kind: str
    workers: int = 1
    batches_in: int = 0
    batches_out: int = 0
    rows_in: int = 0
    rows_out: int = 0
    rows_error: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    retries: int = 0
    busy_seconds: float = 0.0
    wall_seconds: float = 0.0
    status: str = "pending"
    """pending, running, done, failed or stopped."""

    @property
    def rows_per_second(self) -> float:
        """Rows handled per wall-clock second (output rows for sources, input rows otherwise)."""
        rows = self.rows_out if self.kind == "source" else self.rows_in
        return rows / self.wall_seconds if self.wall_seconds > 0 else 0.0


@dataclass
class PipelineStats:
    """A snapshot of a whole run: one entry per processor plus totals."""

    name: str
    processors: list[ProcessorStats] = field(default_factory=list)
    wall_seconds: float = 0.0
    rows_read: int = 0
    """Rows emitted by all sources."""
    rows_written: int = 0
    """Rows received by all sinks."""
    rows_error: int = 0
    """Rows routed to error sinks by any processor."""
    source_bytes_total: int | None = None
    """Input size when every source knows it (drives the CLI progress bar)."""
    source_bytes_read: int | None = None
    status: str = "running"

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def processor(self, name: str) -> ProcessorStats:
        """The stats of the processor called `name`."""
        for stats in self.processors:
            if stats.name == name:
                return stats
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, including the derived rates."""
        out = dataclasses.asdict(self)
        out["rows_per_second"] = round(self.rows_per_second, 1)
        for entry, stats in zip(out["processors"], self.processors):
            entry["rows_per_second"] = round(stats.rows_per_second, 1)
        return out
