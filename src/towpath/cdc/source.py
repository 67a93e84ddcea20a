"""The contract every change source keeps, and how one is picked from a spec."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import pyarrow as pa

from towpath.cdc.changes import ChangeBuffer, Position
from towpath.cdc.registry import CDC_SOURCES
from towpath.cdc.spec import CdcSpec

__all__ = ["CdcSource", "Poll", "Snapshot", "SourceLag", "open_source"]


class Poll(Enum):
    """Why `CdcSource.poll` returned."""

    FULL = "full"
    """The buffer reached its row limit (possibly inside a transaction)."""
    TIMEOUT = "timeout"
    """The batch's time is up."""
    SCHEMA = "schema"
    """The table's columns changed: apply what is buffered, then read `schema` again."""


@dataclass(frozen=True)
class Snapshot:
    """A consistent read of the whole table and the position the stream continues from."""

    position: Position
    source_position: str
    batches: Iterator[pa.RecordBatch]


@dataclass(frozen=True)
class SourceLag:
    bytes: int | None
    """Log bytes the source holds that were not applied yet (None: not comparable, e.g. another binlog file)."""
    source_position: str
    """The source's current position, in its own spelling."""


class CdcSource(Protocol):
    """A table's consistent snapshot and its ordered change stream."""

    table: str
    schema: pa.Schema
    """The table's columns as Arrow types (changes and the snapshot are cast to it)."""
    primary_key: list[str]

    def stream_exists(self, position: Position | None) -> bool:
        """Does the source still hold this job's stream from `position` (a slot / the binlog file there)?"""
        ...

    def snapshot(self) -> Snapshot:
        """Start a new stream and read the table as of the stream's first position (the handoff)."""
        ...

    def drop_stream(self) -> None:
        """Forget the stream (before a re-snapshot), releasing what the source retains for it."""
        ...

    def start(self, position: Position | None) -> None:
        """Stream changes after `position` (None: from the stream's own start); a lost stream is `SlotLostError`."""
        ...

    def poll(self, buffer: ChangeBuffer, max_rows: int, timeout: float) -> Poll:
        """Decode changes into `buffer` until it holds `max_rows`, `timeout` seconds pass or the schema changes."""
        ...

    def acknowledge(self, position: Position) -> None:
        """Every target applied everything up to `position`: the source may free the log before it."""
        ...

    def caught_up(self) -> bool:
        """Has the stream delivered everything the source had committed when `start` was called?"""
        ...

    def lag(self, applied: Position | None) -> SourceLag:
        ...

    def format(self, position: Position | None) -> str:
        """A position as the source spells it (`0/16B3748`, `binlog.000003:1234`)."""
        ...

    def close(self) -> None:
        ...


def open_source(spec: CdcSpec) -> CdcSource:
    """Connect to the spec's source (its `CDC_SOURCES` kind) and describe its table."""
    return CDC_SOURCES.get(spec.source.type)(spec)
