"""The change stream between a source and its targets: positions, and batches of row changes as Arrow.

A source decodes its replication protocol into a `ChangeBuffer` column by
column (text values, the way both protocols deliver them), and the buffer turns
into one Arrow table per batch: the table's columns cast to their types, plus
`__op` (insert/update/delete), `__commit` and `__seq` (the position of every row).
Everything after that (skip what a target already has, keep the last change per
key, split upserts from deletes) is vectorised.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DELETE", "INSERT", "UPDATE", "ChangeBatch", "ChangeBuffer", "Position", "cast_text", "last_per_key"]

INSERT, UPDATE, DELETE = 0, 1, 2
"""Values of the `__op` column."""

OP, COMMIT, SEQ = "__op", "__commit", "__seq"
META = (OP, COMMIT, SEQ)


@dataclass(frozen=True, order=True)
class Position:
    """Where a change sits in the source's log, totally ordered.

    `commit` identifies the transaction (PostgreSQL: its commit LSN; MySQL: the
    binlog offset its first event starts at, file number in the high bits), and
    `seq` the change's ordinal inside it, so a long transaction can be applied
    in several batches and a restart skips exactly the part already applied.
    A snapshot taken at commit C is `Position(C, -1)`: everything before C.
    """

    commit: int
    seq: int = -1

    def __str__(self) -> str:
        return f"{self.commit}:{self.seq}"

    @classmethod
    def parse(cls, text: str) -> Position:
        commit, _, seq = text.partition(":")
        return cls(int(commit), int(seq or -1))


@dataclass
class ChangeBuffer:
    """Row changes decoded but not yet applied, kept as per-column lists of text (None for NULL)."""

    schema: pa.Schema
    """The table's columns as the changes in this buffer have them."""
    values: list[list[str | None]] = field(default_factory=list)
    ops: list[int] = field(default_factory=list)
    commits: list[int] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    last_complete: Position | None = None
    """The end of the last whole transaction in the buffer (what the source may acknowledge once applied)."""
    last_commit_time: float | None = None
    """Source commit time (epoch seconds) of the newest change, for lag in seconds."""
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.values:
            self.values = [[] for _ in self.schema]

    def __len__(self) -> int:
        return len(self.ops)

    def add(self, op: int, row: Sequence[str | None], commit: int, seq: int) -> None:
        """Append one change; `row` has one text value per column, in `columns` order."""
        for values, value in zip(self.values, row, strict=True):
            values.append(value)
        self.ops.append(op)
        self.commits.append(commit)
        self.seqs.append(seq)

    def to_batch(self, source_position: str) -> ChangeBatch:
        """The buffered changes as one Arrow table (text cast column by column to the schema's types)."""
        arrays = [cast_text(pa.array(values, pa.string()), f.type) for f, values in zip(self.schema, self.values,
                                                                                       strict=True)]
        table = pa.table(
            [*arrays, pa.array(self.ops, pa.int8()), pa.array(self.commits, pa.int64()), pa.array(self.seqs, pa.int64())],
            schema=pa.schema([*(f.with_nullable(True) for f in self.schema), pa.field(OP, pa.int8()),
                              pa.field(COMMIT, pa.int64()), pa.field(SEQ, pa.int64())]),
        )
        end = Position(self.commits[-1], self.seqs[-1]) if self.ops else self.last_complete
        return ChangeBatch(table, end, self.last_complete, source_position, self.last_commit_time)


@dataclass(frozen=True)
class ChangeBatch:
    """One batch of changes, in commit order."""

    rows: pa.Table
    """Source columns plus `__op`, `__commit`, `__seq`."""
    end: Position | None
    """Position of the last change (None: an empty batch)."""
    acknowledge: Position | None
    """End of the last complete transaction: once every target has applied the batch, the source may forget it."""
    source_position: str
    """`end` as the source spells it (`0/16B3748`, `binlog.000003:1234`), for summaries and messages."""
    commit_time: float | None

    def after(self, position: Position | None) -> pa.Table:
        """The changes past `position` (a target that already applied part of this batch skips it)."""
        if position is None or self.rows.num_rows == 0:
            return self.rows
        commit, seq = self.rows[COMMIT], self.rows[SEQ]
        newer = pc.or_(pc.greater(commit, position.commit),
                       pc.and_(pc.equal(commit, position.commit), pc.greater(seq, position.seq)))
        return self.rows.filter(newer)


def last_per_key(changes: pa.Table, key: Sequence[str]) -> pa.Table:
    """The last change of each key, in commit order (rows arrive in commit order: the highest index wins)."""
    if changes.num_rows == 0:
        return changes
    indexed = changes.select(list(key)).append_column("__row", pa.array(range(changes.num_rows), pa.int64()))
    last = indexed.group_by(list(key), use_threads=False).aggregate([("__row", "max")])["__row_max"]
    return changes.take(pc.take(last, pc.sort_indices(last)))


_BOOL_TRUE = pa.array(["t", "true", "1", "y", "yes", "on"])


def cast_text(values: pa.Array, target: pa.DataType) -> pa.Array:
    """Text as both replication protocols send it -> `target` (PostgreSQL booleans are `t`/`f`)."""
    if pa.types.is_string(target) or pa.types.is_large_string(target):
        return values.cast(target)
    if pa.types.is_boolean(target):
        return pc.if_else(pc.is_null(values), pa.scalar(None, pa.bool_()), pc.is_in(pc.utf8_lower(values), _BOOL_TRUE))
    if pa.types.is_timestamp(target) and target.tz is not None:
        # PostgreSQL prints `2024-01-02 03:04:05.123+00`: make the offset ISO (`+00:00`) for Arrow's parser.
        values = pc.replace_substring_regex(values, r"([+-]\d\d)$", r"\1:00")
    return values.cast(target)
