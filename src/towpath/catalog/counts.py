"""What a scan's manifests say exactly about the rows it selects: counts per data file.

Iceberg keeps, for every data file, its row count, each column's NULL count and
its partition values. When a filter selects *whole* files (every planned file's
residual is `AlwaysTrue`: its partition values alone decide that all its rows
match), those numbers are the exact answer to `COUNT(*)`, to a column's NULL
count and to a partition's size, with no row read. pyiceberg's own
`DataScan.count` uses the same rule. An audit over a 10M-row partition then
costs a manifest read instead of a scan (`towpath.audits`).

A file with delete files is never whole (the engine refuses those scans anyway).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pyiceberg.expressions import AlwaysTrue
from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.transforms import IdentityTransform


@dataclass(frozen=True)
class FileCounts:
    """One data file's exact counts, by lower-cased column name (top-level columns only)."""

    rows: int
    nulls: Mapping[str, int]
    """NULLs per column, for the columns whose count the file records (a missing column: unknown)."""
    partition: Mapping[str, Any]
    """The file's value of each column its partition spec takes as is (identity), in Iceberg's
    representation (a date as days since 1970): every row of the file holds it."""


@dataclass(frozen=True)
class ScanCounts:
    """The exact counts of a scan that selects whole files: what `COUNT(*)` and friends would return."""

    columns: frozenset[str]
    """The table's top-level columns, lower-cased (a count of a column it lacks is not zero, it is an error)."""
    files: tuple[FileCounts, ...]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def nulls(self, column: str) -> int | None:
        """NULLs in `column`; None when it is not a column or a file does not count them."""
        name = column.lower()
        if name not in self.columns:
            return None
        counted = [f.nulls.get(name) for f in self.files]
        return None if None in counted else sum(counted)  # type: ignore[arg-type]  # None ruled out

    def partition_rows(self, column: str) -> dict[Any, int] | None:
        """Rows per value of `column`, when every file is partitioned by it as is; None otherwise."""
        name = column.lower()
        if name not in self.columns or any(name not in f.partition for f in self.files):
            return None
        sizes: dict[Any, int] = {}
        for f in self.files:
            sizes[f.partition[name]] = sizes.get(f.partition[name], 0) + f.rows
        return sizes


def whole_file_counts(metadata: TableMetadata, schema: Schema, tasks: Iterable[FileScanTask]) -> ScanCounts | None:
    """The planned files' counts, or None when a file is not wholly selected (or has deletes)."""
    tasks = list(tasks)
    if any(task.delete_files or not isinstance(task.residual, AlwaysTrue) for task in tasks):
        return None
    names = {field.field_id: field.name.lower() for field in schema.fields}
    identities = {
        spec_id: [(position, names.get(field.source_id)) for position, field in enumerate(spec.fields)
                  if isinstance(field.transform, IdentityTransform)]
        for spec_id, spec in metadata.specs().items()
    }
    files = []
    for task in tasks:
        data_file = task.file
        nulls = data_file.null_value_counts or {}
        files.append(FileCounts(
            rows=data_file.record_count,
            nulls={names[field_id]: count for field_id, count in nulls.items() if field_id in names},
            partition={name: data_file.partition[position] for position, name in identities.get(data_file.spec_id, ())
                       if name is not None},
        ))
    return ScanCounts(frozenset(names.values()), tuple(files))
