"""CDC into a search index: each key's document replaced or deleted, the position kept in the index's metadata.

The index commit comes first and the position second, so a crash between them
replays changes the index already has; replaying a key's last version is
idempotent, so the index still ends equal to the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from towpath.cdc.changes import DELETE, META, OP, ChangeBatch, Position, last_per_key
from towpath.search import SearchIndex, open_index

__all__ = ["SearchTarget"]


def document_keys(rows: pa.Table, key: Sequence[str]) -> pa.Array:
    """The index key of each row: the key columns as text, joined by U+001F (vectorised)."""
    parts = [pc.cast(rows[k], pa.string()) for k in key]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


class SearchTarget:
    def __init__(self, root: Path, index: str) -> None:
        self.name = f"search:{index}"
        self.index: SearchIndex = open_index(root, index, create=True)

    def position(self) -> Position | None:
        text = self.index.meta().get("cdc_position")
        return Position.parse(text) if text else None

    def columns(self) -> list[str] | None:
        return None

    def begin_snapshot(self, schema: pa.Schema, key: list[str]) -> _Load:
        self.index.clear()
        return _Load(self.index, key)

    def apply(self, batch: ChangeBatch, key: list[str]) -> int:
        changes = last_per_key(batch.after(self.position()), key)
        if changes.num_rows == 0:
            return 0
        alive = pc.not_equal(changes[OP], DELETE)
        self.index.delete(document_keys(changes.filter(pc.invert(alive)), key))
        upserts = changes.filter(alive)
        self.index.upsert(document_keys(upserts, key), upserts.drop_columns(list(META)))
        assert batch.end is not None
        self.index.commit({"cdc_position": str(batch.end), "source_position": batch.source_position})
        return int(changes.num_rows)

    def evolve(self, schema: pa.Schema) -> None:
        """Nothing to do: documents are JSON objects, a new column is a new key."""

    def close(self) -> None:
        self.index.close()


class _Load:
    def __init__(self, index: SearchIndex, key: list[str]) -> None:
        self.index, self.key = index, key

    def add(self, batch: pa.RecordBatch) -> None:
        rows = pa.Table.from_batches([batch])
        self.index.add(document_keys(rows, self.key), rows)

    def commit(self, position: Position, source_position: str) -> None:
        self.index.commit({"cdc_position": str(position), "source_position": source_position})
