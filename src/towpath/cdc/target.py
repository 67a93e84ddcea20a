"""The contract of a CDC target: where it stands, a snapshot load, and batches applied exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from towpath.cdc.changes import ChangeBatch, Position

if TYPE_CHECKING:
    from towpath.catalog import Catalog

__all__ = ["CdcTarget", "SnapshotLoad", "TargetContext"]


@dataclass(frozen=True)
class TargetContext:
    """What a target kind may open: the project's catalog and folder, and the job's name."""

    catalog: Catalog
    root: Path
    job: str


class SnapshotLoad(Protocol):
    def add(self, batch: pa.RecordBatch) -> None: ...

    def commit(self, position: Position, source_position: str) -> None:
        """Replace the target's contents by the added rows, recording `position`, in one durable step."""
        ...


class CdcTarget(Protocol):
    name: str

    def position(self) -> Position | None:
        """The last change applied durably (None: never loaded)."""
        ...

    def columns(self) -> list[str] | None:
        """The columns the target holds (None: schema-free, like a search index)."""
        ...

    def begin_snapshot(self, schema: pa.Schema, key: list[str]) -> SnapshotLoad: ...

    def apply(self, batch: ChangeBatch, key: list[str]) -> int:
        """Apply the changes past `position()`, last write per key winning, in one durable step; returns rows."""
        ...

    def evolve(self, schema: pa.Schema) -> None:
        """Take the source's added columns."""
        ...

    def close(self) -> None: ...
