"""Publish a stream window: its rows, its dead letters and the Kafka offsets it covers, in one Iceberg commit.

The window is staged in memory (nothing of it is visible or even written),
then `publish()` writes its data files and makes rows, dead letters and the new
offsets visible in ONE catalog transaction through
`towpath.catalog.commit_with_position`, conditional on the table still holding
the offsets this worker started the window from. A crash before that leaves
nothing visible and the next run re-reads the window from the recorded
offsets; a crash after it leaves everything visible and the next run starts
after it. That is the exactly-once guarantee; the consumer group is not part
of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from towpath.catalog import Catalog, PositionConflictError, commit_with_position, normalize_identifier
from towpath.errors import ConflictError, TowpathError
from towpath.publish.base import Published, Staged


@dataclass
class WindowData:
    rows: pa.Table
    dead_letters: pa.Table | None
    expected: dict[str, int | None]
    """Offsets (next to read) per `topic/partition` that the table must still record."""
    position: dict[str, int]
    """The next offsets after this window."""
    properties: dict[str, str] = field(default_factory=dict)


class StreamWindowPublisher:
    """The `Publisher` of stream windows: one Iceberg commit per window, offsets in its snapshot summary."""

    KIND: ClassVar[str] = "stream-window"

    def __init__(self, catalog: Catalog, table: str, dead_letters: str | None, *, source: str) -> None:
        self.catalog = catalog
        self.table = normalize_identifier(table)
        self.dead_letter_table = normalize_identifier(dead_letters) if dead_letters else None
        self.source = source
        self._pending: dict[str, WindowData] = {}

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.table,) if self.dead_letter_table is None else (self.table, self.dead_letter_table)

    def stage(self, name: str, *, attempt: int) -> Staged:
        """A window is staged in memory: `put()` its data, then publish or discard it."""
        return Staged(name, attempt, {target: "main" for target in self.targets})

    def put(self, staged: Staged, data: WindowData) -> None:
        self._pending[staged.name] = data

    def publish(self, staged: Staged) -> Published:
        """One commit: rows + dead letters + offsets, or nothing.

        Raises:
            PositionConflictError: another writer moved these partitions' offsets (this worker is fenced).
            ConflictError: other writers kept winning the commit race.
        """
        data = self._pending.pop(staged.name, None)
        if data is None:
            raise TowpathError(f"stream window '{staged.name}' has nothing staged")
        also = []
        if self.dead_letter_table is not None and data.dead_letters is not None and data.dead_letters.num_rows:
            also.append((self.dead_letter_table, data.dead_letters))
        try:
            done = commit_with_position(
                self.catalog, self.table, data.rows, source=self.source, expected=data.expected,
                position=data.position, also=also, properties=data.properties,
            )
        except ConflictError as exc:
            if not isinstance(exc, PositionConflictError):
                self._pending[staged.name] = data  # lost the commit race: the caller may retry the same window
            raise
        return Published({self.table: done.snapshot_id})

    def discard(self, staged: Staged) -> None:
        self._pending.pop(staged.name, None)

    def keep(self, staged: Staged, reason: str) -> None:
        """Nothing of a window is written before publish, so there is nothing to keep: the window is dropped."""
        self.discard(staged)
