"""Commit data files in one snapshot: append, overwrite, or replace the partitions they touch.

pyiceberg's `dynamic_partition_overwrite` commits a delete snapshot and then an
append snapshot: two metadata rewrites per daily write (0.1-0.2 s of a seed
run), and a moment in the branch's history where the partition is empty. Here
the new data files are written first, the branch's files in the same partitions
are found through partition pruning, and both go into ONE `overwrite` snapshot
(`append` when there was nothing to replace) — the commit Spark's
`INSERT OVERWRITE` makes.

The commit half (`commit_data_files`) takes files already written, by this
process (`replace_partitions`, DuckDB's path) or by Spark's executors (the
Spark engine's distributed write), so both engines commit the same way. Both
stage their snapshot in the caller's transaction, which may also cut the
branch (`Catalog.write`: the cut and the first write are one commit).

A partition replace needs a table that never changed its spec: there a file's
partition value says exactly which rows it holds. Identity partitions are found
through partition pruning; other transforms by reading the branch's manifests.
`Catalog.write` leaves non-identity specs to pyiceberg, which can rewrite Arrow
rows; files written elsewhere cannot be rewritten, so an evolved spec refuses.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, EqualTo, IsNull, Or, Reference
from pyiceberg.manifest import DataFile, ManifestFile
from pyiceberg.table import Table, Transaction
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _OverwriteFiles
from pyiceberg.transforms import IdentityTransform
from pyiceberg.typedef import Record

from towpath.catalog.datafiles import write_data_files
from towpath.write_modes import TableWriteMode


def can_replace_partitions(table: Table) -> bool:
    """Whether `replace_partitions` handles this table's partitioning."""
    spec = table.spec()
    return (
        not spec.is_unpartitioned()
        and len(table.metadata.partition_specs) == 1
        and all(isinstance(field.transform, IdentityTransform) for field in spec.fields)
    )


def replace_partitions(table: Table, txn: Transaction, data: pa.Table, properties: dict[str, str], branch: str) -> None:
    """Make `data` the whole content of each partition it has rows for, on `branch`, in one snapshot of `txn`."""
    if data.num_rows == 0:
        return
    commit_data_files(table, txn, write_data_files(table, data), "dynamic_overwrite", properties, branch)


def commit_data_files(
    table: Table,
    txn: Transaction,
    files: Sequence[DataFile],
    mode: TableWriteMode,
    properties: dict[str, str],
    branch: str | None,
) -> None:
    """Stage already written `files` on `branch` in one snapshot of `txn` (a transaction of `table`; the caller commits).

    append adds them; overwrite makes them the branch's only files;
    dynamic_overwrite makes them the whole content of the partitions they hold
    (on an unpartitioned table: of the table). `branch=None` commits an
    unreferenced snapshot (the first write of a branch on an empty table). A
    dynamic overwrite without files changes nothing, as pyiceberg's does.

    Raises:
        ValueError: a partition replace on a table whose partition spec changed.
    """
    head = txn.table_metadata.snapshot_by_name(branch) if branch is not None else None  # `txn` may cut the branch
    if mode == "dynamic_overwrite" and not table.spec().is_unpartitioned():
        if not files:
            return
        if len(table.metadata.partition_specs) != 1:
            raise ValueError(
                "cannot replace partitions with data files written elsewhere: the table's partition spec changed, "
                "so old files may hold rows of several new partitions (rewrite the table, or write with DuckDB)"
            )
        partitions = {data_file.partition for data_file in files}
        replaced = [] if head is None else [
            task.file
            for task in table.scan(row_filter=_matching(table, partitions), snapshot_id=head.snapshot_id).plan_files()
            if task.file.partition in partitions
        ]
    elif mode == "append" or head is None:
        replaced = []
    else:  # overwrite, or a dynamic overwrite of an unpartitioned table
        replaced = [task.file for task in table.scan(snapshot_id=head.snapshot_id).plan_files()]
    commit_uuid = uuid.uuid4()
    if not replaced:
        with txn.update_snapshot(snapshot_properties=properties, branch=branch).fast_append() as append:
            append.commit_uuid = commit_uuid
            for data_file in files:
                append.append_data_file(data_file)
    else:
        with _LiveOverwrite(
            commit_uuid=commit_uuid, operation=Operation.OVERWRITE, transaction=txn, io=table.io, branch=branch,
            snapshot_properties=properties,
        ) as overwrite:
            for data_file in replaced:
                overwrite.delete_data_file(data_file)
            for data_file in files:
                overwrite.append_data_file(data_file)


class _LiveOverwrite(_OverwriteFiles):
    """pyiceberg's overwrite snapshot, without the parent's manifests that hold no live file.

    pyiceberg carries every manifest of the parent forward, including the one
    the parent's own overwrite wrote for the files it deleted (all its entries
    DELETED). So each daily partition replace added one dead manifest to the
    branch for good: after 20 runs a scan planned 22 manifests for 1 file, and
    planning, the replace's own scan and the commit all slowed down run after
    run. Iceberg's Java writer drops such manifests (a deleted entry matters
    only to the snapshot that deleted it); a fast append already does here.
    """

    def _existing_manifests(self) -> list[ManifestFile]:
        return [m for m in super()._existing_manifests() if m.has_added_files() or m.has_existing_files()]


def _matching(table: Table, partitions: set[Record]) -> BooleanExpression:
    """A row filter selecting exactly these identity-partition values (for manifest pruning); all rows otherwise."""
    schema, spec = table.schema(), table.spec()
    if not all(isinstance(field.transform, IdentityTransform) for field in spec.fields):
        return AlwaysTrue()
    names = [schema.find_field(field.source_id).name for field in spec.fields]
    terms: list[BooleanExpression] = []
    for record in partitions:
        equals: list[BooleanExpression] = [
            IsNull(term=Reference(name)) if record[i] is None else EqualTo(term=Reference(name), value=record[i])
            for i, name in enumerate(names)
        ]
        terms.append(equals[0] if len(equals) == 1 else And(*equals))
    return terms[0] if len(terms) == 1 else Or(*terms)
