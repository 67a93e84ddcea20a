"""Commits that carry a source position, conditional on the table's last recorded one.

Exactly-once ingestion (a Kafka stream, change-data-capture) needs the rows and
"how far the source has been read" to become visible together, and a second
writer reading the same part of the source to be refused rather than doubled.
So the position lives in the table itself: each such commit writes, in its
snapshot summary under `towpath.position.<source>`, a JSON mapping of
position keys (`orders/0` for a Kafka topic-partition, `lsn` for a Postgres
slot, ...) to values, merged over the last recorded mapping of that source.

`commit_with_position` checks, against the table as the commit is built, that
every key it moves still holds the value the writer started from; if another
writer moved one of them, it raises `PositionConflictError` (the writer is
fenced). Writers of disjoint keys (two workers, each owning its partitions)
only conflict on the catalog pointer, and then simply redo the commit on top
of each other, each re-reading and re-merging the mapping.

Several tables can be committed in the same catalog transaction (a stream's
dead-letter table beside its target), so either both change or neither does.
The position is recorded on the first table only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from towpath.catalog._catalog import MAIN, Catalog, conform, normalize_identifier
from towpath.catalog._commit import TableChange, pause_point
from towpath.catalog.datafiles import write_data_files
from towpath.errors import ConflictError

POSITION_PREFIX = "towpath.position."
PositionValue = Any
"""A JSON value: an offset (int), an LSN or binlog coordinate (str), ..."""


class PositionConflictError(ConflictError):
    """Another writer moved the same source keys since this writer read them: this writer is fenced."""

    def __init__(self, identifier: str, source: str, moved: Mapping[str, tuple[PositionValue, PositionValue]]) -> None:
        detail = ", ".join(f"{key}: expected {exp!r}, table has {found!r}" for key, (exp, found) in sorted(moved.items()))
        super().__init__(
            f"table '{identifier}': another writer moved the position of '{source}' ({detail}); this writer was fenced "
            "and committed nothing (is a second instance of the same job running?)"
        )
        self.identifier, self.source, self.moved = identifier, source, dict(moved)


def position_key(source: str) -> str:
    """The snapshot-summary property holding `source`'s position mapping."""
    return POSITION_PREFIX + source


def snapshot_position(snapshot: Snapshot | None, source: str) -> dict[str, PositionValue] | None:
    """The position mapping `snapshot` records for `source`, None if it records none."""
    if snapshot is None or snapshot.summary is None:
        return None
    raw = snapshot.summary.additional_properties.get(position_key(source))
    return None if raw is None else dict(json.loads(raw))


def table_positions(table: Table, ref: str = MAIN) -> dict[str, dict[str, PositionValue]]:
    """Every source's last recorded position on `ref`: the newest ancestor recording each one wins."""
    found: dict[str, dict[str, PositionValue]] = {}
    snapshot = table.snapshot_by_name(ref)
    while snapshot is not None:
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        for key, raw in props.items():
            if key.startswith(POSITION_PREFIX):
                found.setdefault(key.removeprefix(POSITION_PREFIX), dict(json.loads(raw)))
        parent = snapshot.parent_snapshot_id
        snapshot = table.metadata.snapshot_by_id(parent) if parent is not None else None
    return found


def read_position(catalog: Catalog, identifier: str, source: str, ref: str = MAIN) -> dict[str, PositionValue]:
    """`source`'s last recorded position in the table (empty if it never committed one)."""
    return _position(catalog.table(identifier), source, ref)


def _position(table: Table, source: str, ref: str = MAIN) -> dict[str, PositionValue]:
    snapshot = table.snapshot_by_name(ref)
    while snapshot is not None:
        found = snapshot_position(snapshot, source)
        if found is not None:
            return found
        parent = snapshot.parent_snapshot_id
        snapshot = table.metadata.snapshot_by_id(parent) if parent is not None else None
    return {}


def position_properties(table: Table, ref: str = MAIN) -> dict[str, str]:
    """The summary properties that carry every source's position forward (for a rewrite such as compaction)."""
    return {
        position_key(source): json.dumps(value, sort_keys=True) for source, value in table_positions(table, ref).items()
    }


@dataclass(frozen=True)
class PositionCommit:
    """What a position commit made visible."""

    snapshot_id: int
    position: dict[str, PositionValue]
    """The merged position now recorded for the source (every writer's keys)."""
    attempts: int


def commit_with_position(
    catalog: Catalog,
    identifier: str,
    data: pa.Table,
    *,
    source: str,
    expected: Mapping[str, PositionValue | None],
    position: Mapping[str, PositionValue],
    also: Sequence[tuple[str, pa.Table]] = (),
    properties: Mapping[str, str] | None = None,
) -> PositionCommit:
    """Append `data` (and each of `also`'s tables) in one commit recording `position` for `source`.

    `expected` holds, for each key of `position`, the value the writer started
    from (None: never recorded). The commit happens only if the table still
    records exactly those values; the new mapping is the recorded one with
    `position`'s keys replaced. Data files are written once and re-used by a
    retry. An empty `data` still commits (the position moves).

    Raises:
        PositionConflictError: another writer moved one of `position`'s keys (fenced; nothing committed).
        ConflictError: other writers kept winning the catalog pointer race.
    """
    ident = normalize_identifier(identifier)
    idents = [ident, *(normalize_identifier(name) for name, _ in also)]
    for name in idents:
        catalog.check_write(name)
    tables = catalog.load_tables(idents)
    files = {ident: _data_files(tables[ident], data, ident)}
    for name, rows in also:
        files[normalize_identifier(name)] = _data_files(tables[normalize_identifier(name)], rows, name)
    attempts = 0

    def attempt(loaded: dict[str, Table]) -> PositionCommit:
        nonlocal attempts
        attempts += 1
        target = loaded[ident]
        recorded = _position(target, source)
        moved = {
            key: (expected.get(key), recorded.get(key))
            for key in position if recorded.get(key) != expected.get(key)
        }
        if moved:
            raise PositionConflictError(ident, source, moved)
        merged = {**recorded, **position}
        props = {**(properties or {}), position_key(source): json.dumps(merged, sort_keys=True)}
        changes = [_fast_append(target, files[ident], props)]
        changes += [_fast_append(loaded[name], files[name], {}) for name in idents[1:] if files[name]]
        pause_point("before-position-commit")
        catalog.commit_tables(changes)
        head = catalog.table(ident).snapshot_by_name(MAIN)
        assert head is not None
        return PositionCommit(head.snapshot_id, merged, attempts)

    return catalog.commit_many_with_retry(idents, attempt, what=f"committing the position of '{source}'")


def _data_files(table: Table, data: pa.Table, identifier: str) -> list[DataFile]:
    if data.num_rows == 0:
        return []
    conformed = conform(data, table.schema().as_arrow(), identifier)
    return write_data_files(table, conformed)


def _fast_append(table: Table, files: Sequence[DataFile], properties: dict[str, str]) -> TableChange:
    """The updates and requirements of one fast-append snapshot, without committing them."""
    txn = table.transaction()
    with txn.update_snapshot(snapshot_properties=properties).fast_append() as append:
        for data_file in files:
            append.append_data_file(data_file)
    return TableChange(table, tuple(txn._requirements), tuple(txn._updates))
