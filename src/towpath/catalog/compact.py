"""Rewrite a table's small data files into few large ones, partition by partition, then expire old snapshots.

A stream commits one snapshot per window, so each partition collects one small
file per window; readers pay per file. Compaction reads every small file of a
partition (through pyiceberg's scan, so older files written before a schema
change read with today's schema), writes the rows back in target-sized files
and swaps them in ONE overwrite commit that deletes exactly the files it read:
the rows readers see do not change, only the file count.

The commit is checked against the table as compaction planned it (the branch
head must not have moved), so a writer committing meanwhile makes compaction
replan rather than lose the writer's files; when that writer only appended (a
stream's next window), the replanned commit re-uses the files already
rewritten, so compaction can run beside a stream that commits every second. The new snapshot carries
every source position forward (`towpath.catalog.positions`): a stream or CDC
job resuming after compaction and snapshot expiry reads the same positions.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table

from towpath.catalog._catalog import MAIN, Catalog, normalize_identifier
from towpath.catalog._commit import TableChange, pause_point
from towpath.catalog.datafiles import write_data_files
from towpath.catalog.history import expire_snapshots
from towpath.catalog.positions import position_properties
from towpath.errors import CatalogError

TARGET_FILE_SIZE_PROPERTY = "write.target-file-size-bytes"
DEFAULT_TARGET_FILE_SIZE = 512 * 1024 * 1024
SMALL_FRACTION = 0.75
"""A file under this fraction of the target size is small (worth rewriting)."""
COMPACTION_PROPERTY = "towpath.compaction"
"""Set in the summary of every compaction snapshot, so a job can tell when the table was last compacted."""


@dataclass(frozen=True)
class PartitionCompaction:
    partition: str
    """The partition's path (`event_time_day=2024-01-02`; empty for an unpartitioned table)."""
    files_before: int
    files_after: int
    rows: int


@dataclass(frozen=True)
class CompactResult:
    table: str
    snapshot_id: int | None
    """The compaction snapshot; None when nothing needed rewriting."""
    partitions: list[PartitionCompaction] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)

    @property
    def files_removed(self) -> int:
        return sum(p.files_before for p in self.partitions)

    @property
    def files_added(self) -> int:
        return sum(p.files_after for p in self.partitions)


def compact(
    catalog: Catalog,
    identifier: str,
    *,
    partitions: Sequence[str] | None = None,
    min_files: int = 2,
    target_file_size: int | None = None,
    expire_older_than: dt.timedelta | None = dt.timedelta(days=7),
    retain_last: int = 5,
) -> CompactResult:
    """Rewrite the small files of `partitions` (partition paths; default: every partition) of `main`.

    A partition is rewritten when it has at least `min_files` small files.
    Afterwards snapshots older than `expire_older_than` are expired (keeping
    main's last `retain_last`; None skips expiry).

    Raises:
        CatalogError: an unknown partition, `min_files` below 2, or the table has delete files.
    """
    if min_files < 2:
        raise CatalogError(f"min_files must be at least 2 (got {min_files}): one file cannot be merged into fewer")
    ident = normalize_identifier(identifier)
    rewritten: dict[tuple[str, frozenset[str]], tuple[list[DataFile], int]] = {}
    """(partition, the files read) -> (the files written, rows): a retry after a concurrent append re-uses them."""

    def attempt(table: Table) -> CompactResult:
        groups = _small_files(table, target_file_size)
        if partitions is not None:
            unknown = sorted(set(partitions) - set(_all_partitions(table)))
            if unknown:
                raise CatalogError(
                    f"table '{ident}' has no partition {', '.join(unknown)} "
                    f"(its partitions: {', '.join(sorted(_all_partitions(table))) or 'none'})"
                )
            groups = {path: tasks for path, tasks in groups.items() if path in partitions}
        groups = {path: tasks for path, tasks in groups.items() if len(tasks) >= min_files}
        if not groups:
            return CompactResult(ident, None)
        done: list[PartitionCompaction] = []
        txn = table.transaction()
        scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
        properties = {**position_properties(table), COMPACTION_PROPERTY: "rewrite"}
        with txn.update_snapshot(snapshot_properties=properties).overwrite() as rewrite:
            for path, tasks in sorted(groups.items()):
                live = {task.file.file_path for task in tasks}
                # lost the commit race to a writer that only appended (a stream's next window): the files this
                # partition was rewritten from are all still there, so swap in the same rewrite (the new small
                # files wait for the next compaction) instead of reading and writing the partition again
                reuse = [key for key in rewritten if key[0] == path and key[1] <= live]
                if reuse:
                    inputs = reuse[0][1]
                    new_files, count = rewritten[reuse[0]]
                    tasks = [task for task in tasks if task.file.file_path in inputs]
                else:
                    rows = scan.to_table(tasks)
                    new_files = write_data_files(table, rows)
                    count = rows.num_rows
                    rewritten[(path, frozenset(live))] = (new_files, count)
                for task in tasks:
                    rewrite.delete_data_file(task.file)
                for data_file in new_files:
                    rewrite.append_data_file(data_file)
                done.append(PartitionCompaction(path, len(tasks), len(new_files), count))
            pause_point("during-compaction")
        # one attempt, checked against the head this plan read: pyiceberg's own retry would rebase the rewrite on
        # a newer head but keep the positions copied from this one (a stream would re-read a window)
        catalog.commit_tables([TableChange(table, tuple(txn._requirements), tuple(txn._updates))])
        head = catalog.table(ident).snapshot_by_name(MAIN)
        return CompactResult(ident, head.snapshot_id if head else None, done)

    result = catalog.commit_with_retry(ident, attempt, what="compacting")
    if expire_older_than is not None:
        expired = expire_snapshots(catalog, ident, older_than=expire_older_than, retain_last=retain_last)
        result = CompactResult(result.table, result.snapshot_id, result.partitions, expired)
    return result


def last_compacted(catalog: Catalog, identifier: str) -> dt.datetime | None:
    """When `compact` last committed to the table (among its unexpired snapshots); None if never."""
    table = catalog.table(identifier)
    stamps = [
        s.timestamp_ms for s in table.snapshots()
        if s.summary is not None and COMPACTION_PROPERTY in s.summary.additional_properties
    ]
    return dt.datetime.fromtimestamp(max(stamps) / 1000, dt.UTC) if stamps else None


def _tasks(table: Table) -> list[FileScanTask]:
    if table.snapshot_by_name(MAIN) is None:
        return []
    tasks = list(table.scan().plan_files())
    if any(task.delete_files for task in tasks):
        raise CatalogError(f"table '{table.name()}' has delete files (merge-on-read); compaction cannot rewrite them yet")
    return tasks


def _path(table: Table, task: FileScanTask) -> str:
    spec = table.specs()[task.file.spec_id]
    return "" if spec.is_unpartitioned() else spec.partition_to_path(task.file.partition, table.schema())


def _all_partitions(table: Table) -> set[str]:
    return {_path(table, task) for task in _tasks(table)}


def _small_files(table: Table, target_file_size: int | None) -> dict[str, list[FileScanTask]]:
    target = target_file_size or int(table.properties.get(TARGET_FILE_SIZE_PROPERTY, DEFAULT_TARGET_FILE_SIZE))
    groups: dict[str, list[FileScanTask]] = defaultdict(list)
    for task in _tasks(table):
        if task.file.file_size_in_bytes < target * SMALL_FRACTION:
            groups[_path(table, task)].append(task)
    return dict(groups)
