"""A table's snapshot history, rolling `main` back, and one-call descriptions for `table show`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from pyiceberg.table.refs import SnapshotRefType
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update import (
    AssertRefSnapshotId,
    RemovePropertiesUpdate,
    SetPropertiesUpdate,
    SetSnapshotRefUpdate,
    TableUpdate,
)

from towpath.catalog._catalog import MAIN, Catalog, normalize_identifier
from towpath.catalog._commit import TableChange
from towpath.catalog.branches import branch_heads, is_ancestor
from towpath.catalog.metadata import (
    HWM,
    TableMetadata,
    get_hwm,
    hwm_for_snapshot,
    metadata_from_properties,
)
from towpath.errors import CatalogError, ConflictError


@dataclass(frozen=True)
class SnapshotInfo:
    """One Iceberg snapshot, with the refs that point at it."""

    snapshot_id: int
    parent_id: int | None
    timestamp: dt.datetime
    """Commit time, UTC."""
    operation: str
    """`append`, `overwrite`, `delete` or `replace`."""
    summary: dict[str, str]
    refs: list[str]
    """Branches and tags whose head is this snapshot."""
    is_current: bool
    """True for `main`'s head."""


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    required: bool
    doc: str | None
    column_type: str | None
    """Kind from the table metadata (`pk`, `pii`, ...), if one was set."""


@dataclass(frozen=True)
class TableDescription:
    """Everything `towpath table show` prints, as data a Python user can use too."""

    identifier: str
    comment: str | None
    columns: list[ColumnInfo]
    partition_spec: list[str]
    """One entry per partition field, e.g. `date (identity)`, `id (bucket[16])`."""
    metadata: TableMetadata
    current_snapshot: SnapshotInfo | None
    branches: dict[str, int]
    hwm: dt.datetime | None
    row_count: int
    """Rows on `main` (from the snapshot summary; 0 for an empty table)."""
    data_files: int
    location: str
    properties: dict[str, str] = field(default_factory=dict)


def history(catalog: Catalog, identifier: str) -> list[SnapshotInfo]:
    """Every snapshot of the table, newest first, including those only a branch reaches."""
    table = catalog.table(identifier)
    # Sequence numbers order commits exactly (several can share a millisecond); v1 tables have none.
    ordered = sorted(table.snapshots(), key=lambda s: (s.sequence_number or 0, s.timestamp_ms), reverse=True)
    return [_info(table, snap) for snap in ordered]


@dataclass(frozen=True)
class Rollback:
    """What `rollback` did to `main` and to the high-water mark."""

    snapshot: SnapshotInfo
    hwm_before: dt.datetime | None
    hwm_after: dt.datetime | None


def rollback(
    catalog: Catalog, identifier: str, snapshot_id: int, *, hwm: Literal["keep", "restore"] = "restore"
) -> Rollback:
    """Point `main` back at `snapshot_id`, an earlier snapshot of `main`'s own history.

    With `hwm="restore"` (default) the high-water mark goes back, in the same
    commit, to the mark that was current while that snapshot was `main`'s head
    (none if it predates every mark): consumers must not believe data is complete
    that the rollback removed. `keep` leaves the mark as it is. Later snapshots
    are kept (until expired), so a rollback can itself be undone by publishing
    again; the commit asserts `main` did not move meanwhile.

    Raises:
        CatalogError: the id is unknown (lists recent ids) or not an ancestor of `main`.
        ConflictError: another writer moved `main` during the rollback.
    """
    ident = normalize_identifier(identifier)
    table = catalog.table(identifier, write=True)
    snap = table.metadata.snapshot_by_id(snapshot_id)
    if snap is None:
        recent = [s.snapshot_id for s in history(catalog, identifier)[:5]]
        raise CatalogError(f"table '{ident}' has no snapshot {snapshot_id}; recent snapshots: {recent or 'none'}")
    head = table.snapshot_by_name(MAIN)
    if head is None or not is_ancestor(table, snapshot_id, head.snapshot_id):
        raise CatalogError(
            f"cannot roll '{ident}' back to {snapshot_id}: it is not in main's history "
            f"(main is at {head.snapshot_id if head else 'no snapshot'}); see `towpath table history {ident}`"
        )
    before = get_hwm(catalog, identifier)
    after = hwm_for_snapshot(table, snapshot_id) if hwm == "restore" else before
    updates: tuple[TableUpdate, ...] = ()
    if snapshot_id != head.snapshot_id:
        updates += (SetSnapshotRefUpdate(ref_name=MAIN, type=SnapshotRefType.BRANCH, snapshot_id=snapshot_id),)  # type: ignore[call-arg]
    if after != before:
        updates += (
            (SetPropertiesUpdate(updates={HWM: after.isoformat()}),) if after
            else (RemovePropertiesUpdate(removals=[HWM]),)
        )
    if updates:
        requirement = AssertRefSnapshotId(ref=MAIN, snapshot_id=head.snapshot_id)  # type: ignore[call-arg]
        try:
            catalog.commit_tables([TableChange(table, (requirement,), updates)])
        except CommitFailedException as exc:
            raise ConflictError(f"cannot roll '{ident}' back: another writer moved main ({exc}); rerun to retry") from exc
    table = catalog.table(identifier)
    return Rollback(_info(table, table.metadata.snapshot_by_id(snapshot_id) or snap), before, after)


def expire_snapshots(
    catalog: Catalog, identifier: str, *, older_than: dt.timedelta = dt.timedelta(days=7), retain_last: int = 5
) -> list[int]:
    """Forget snapshots older than `older_than`, keeping the last `retain_last` of `main` and every ref's head.

    Every commit copies the whole table metadata, so a daily pipeline that never
    expires gets slower each day (each WAP run adds a few snapshots). Expired
    snapshots can no longer be read or rolled back to; their data files stay on
    disk until an orphan-file cleanup. Returns the expired snapshot ids.

    Raises:
        CatalogError: `retain_last` is below 1.
    """
    if retain_last < 1:
        raise CatalogError(f"retain_last must be at least 1 (got {retain_last}): main's head is always kept")
    cutoff_ms = int((dt.datetime.now(dt.UTC) - older_than).timestamp() * 1000)

    def attempt(table: Table) -> list[int]:
        keep = {ref.snapshot_id for ref in table.metadata.refs.values()}
        head = table.snapshot_by_name(MAIN)
        lineage: list[int] = []
        while head is not None and len(lineage) < retain_last:
            lineage.append(head.snapshot_id)
            head = table.metadata.snapshot_by_id(head.parent_snapshot_id) if head.parent_snapshot_id else None
        keep.update(lineage)
        expired = [s.snapshot_id for s in table.snapshots() if s.snapshot_id not in keep and s.timestamp_ms < cutoff_ms]
        if expired:
            table.maintenance.expire_snapshots().by_ids(expired).commit()
        return expired

    return catalog.commit_with_retry(identifier, attempt, what="expiring snapshots")


def describe(catalog: Catalog, identifier: str) -> TableDescription:
    """Schema with docs and column kinds, partitioning, metadata, head, branches, mark and size."""
    return describe_table(catalog.table(identifier), normalize_identifier(identifier))


def describe_table(table: Table, identifier: str) -> TableDescription:
    """`describe` of an already loaded table: everything comes from its one metadata file (a caller that
    describes many tables, or keeps loaded ones, loads each once)."""
    metadata = metadata_from_properties(table.properties, identifier)
    schema = table.schema()
    kinds = {k.lower(): v for k, v in metadata.column_types.items()}
    columns = [
        ColumnInfo(f.name, str(f.field_type), f.required, f.doc, kinds.get(f.name.lower()))
        for f in schema.fields
    ]
    parts = [f"{schema.find_column_name(p.source_id)} ({p.transform})" for p in table.spec().fields]
    head = table.current_snapshot()
    summary: dict[str, Any] = head.summary.additional_properties if head and head.summary else {}
    mark = table.properties.get(HWM)
    return TableDescription(
        identifier=identifier,
        comment=table.properties.get("comment"),
        columns=columns,
        partition_spec=parts,
        metadata=metadata,
        current_snapshot=_info(table, head) if head else None,
        branches=branch_heads(table),
        hwm=dt.datetime.fromisoformat(mark) if mark else None,
        row_count=int(summary.get("total-records", 0)),
        data_files=int(summary.get("total-data-files", 0)),
        location=table.location(),
        properties=dict(table.properties),
    )


def _info(table: Table, snap: Snapshot) -> SnapshotInfo:
    refs = sorted(name for name, ref in table.metadata.refs.items() if ref.snapshot_id == snap.snapshot_id)
    current = table.metadata.refs.get(MAIN)
    summary = snap.summary
    return SnapshotInfo(
        snapshot_id=snap.snapshot_id,
        parent_id=snap.parent_snapshot_id,
        timestamp=dt.datetime.fromtimestamp(snap.timestamp_ms / 1000, tz=dt.UTC),
        operation=summary.operation.value if summary else "unknown",
        summary={str(k): str(v) for k, v in (summary.additional_properties if summary else {}).items()},
        refs=refs,
        is_current=current is not None and current.snapshot_id == snap.snapshot_id,
    )
