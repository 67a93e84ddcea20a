"""Replace the partitions a write touches, in one snapshot.

pyiceberg's `dynamic_partition_overwrite` commits a delete snapshot and then an
append snapshot: two metadata rewrites per daily write (0.1-0.2 s of a seed
run), and a moment in the branch's history where the partition is empty. Here
the new data files are written first, the branch's files in the same partitions
are found through partition pruning, and both go into ONE `overwrite` snapshot
(`append` when there was nothing to replace) — the commit Spark's
`INSERT OVERWRITE` makes.

Only identity partitions of a table that never changed its spec are handled:
there a file's partition value says exactly which rows it holds. Anything else
is left to pyiceberg, which rewrites partially matching files.
"""

from __future__ import annotations

import uuid

import pyarrow as pa
from pyiceberg.expressions import And, BooleanExpression, EqualTo, IsNull, Or, Reference
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform
from pyiceberg.typedef import Record


def can_replace_partitions(table: Table) -> bool:
    """Whether `replace_partitions` handles this table's partitioning."""
    spec = table.spec()
    return (
        not spec.is_unpartitioned()
        and len(table.metadata.partition_specs) == 1
        and all(isinstance(field.transform, IdentityTransform) for field in spec.fields)
    )


def replace_partitions(table: Table, data: pa.Table, properties: dict[str, str], branch: str) -> None:
    """Make `data` the whole content of each partition it has rows for, on `branch`, in one commit."""
    if data.num_rows == 0:
        return
    commit_uuid = uuid.uuid4()
    new_files = list(
        _dataframe_to_data_files(table_metadata=table.metadata, write_uuid=commit_uuid, df=data, io=table.io)
    )
    partitions = {data_file.partition for data_file in new_files}
    head = table.snapshot_by_name(branch)
    replaced = (
        [
            task.file
            for task in table.scan(row_filter=_matching(table, partitions), snapshot_id=head.snapshot_id).plan_files()
            if task.file.partition in partitions
        ]
        if head is not None
        else []
    )
    txn = table.transaction()
    update = txn.update_snapshot(snapshot_properties=properties, branch=branch)
    if not replaced:
        with update.fast_append() as append:
            append.commit_uuid = commit_uuid
            for data_file in new_files:
                append.append_data_file(data_file)
    else:
        with update.overwrite(commit_uuid=commit_uuid) as overwrite:
            for data_file in replaced:
                overwrite.delete_data_file(data_file)
            for data_file in new_files:
                overwrite.append_data_file(data_file)
    txn.commit_transaction()


def _matching(table: Table, partitions: set[Record]) -> BooleanExpression:
    """A row filter selecting exactly these identity-partition values (for manifest pruning)."""
    schema, spec = table.schema(), table.spec()
    names = [schema.find_field(field.source_id).name for field in spec.fields]
    terms: list[BooleanExpression] = []
    for record in partitions:
        equals: list[BooleanExpression] = [
            IsNull(term=Reference(name)) if record[i] is None else EqualTo(term=Reference(name), value=record[i])
            for i, name in enumerate(names)
        ]
        terms.append(equals[0] if len(equals) == 1 else And(*equals))
    return terms[0] if len(terms) == 1 else Or(*terms)
