"""What the table pages show: the table list, one table (schema, partitions, snapshots, metadata, mark)
and a page of its rows at a ref (main, a kept WAP branch, a tag).

A table's description is `towpath.catalog.describe` (what `towpath table show --json` prints) and its
history `towpath.catalog.history`; rows are read through the project's engine with the ref bound the
way a WAP audit reads its branch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlglot.expressions as exp

from towpath.ui.config import UiInputError, UiNotFoundError

if TYPE_CHECKING:
    from towpath.catalog import SnapshotInfo, TableDescription
    from towpath.project import Project

PREVIEW_MAX = 500
"""Rows one preview page may ask for."""


@dataclass(frozen=True)
class TableSummary:
    """One line of `towpath table list --json`."""

    table: str
    rows: int
    snapshot: int | None
    owner: str | None
    hwm: str | None


def summary(desc: TableDescription) -> TableSummary:
    return TableSummary(desc.identifier, desc.row_count,
                        desc.current_snapshot.snapshot_id if desc.current_snapshot else None,
                        desc.metadata.owner, desc.hwm.isoformat() if desc.hwm else None)


def table_list(project: Project) -> list[TableSummary]:
    from towpath.catalog import describe

    catalog = project.catalog
    return [summary(describe(catalog, name)) for name in catalog.list_tables()]


@dataclass(frozen=True)
class Partition:
    partition: dict[str, Any]
    rows: int
    files: int
    bytes: int


@dataclass
class TablePage:
    description: TableDescription
    partitions: list[Partition]
    history: list[SnapshotInfo]


def table_page(project: Project, table: str) -> TablePage:
    from towpath.catalog import describe, history

    catalog = _known(project, table)
    return TablePage(describe(catalog, table), partitions(project, table), history(catalog, table))


def partitions(project: Project, table: str) -> list[Partition]:
    """Row count, data files and bytes per partition of `main` (one entry for an unpartitioned table)."""
    loaded = _known(project, table).table(table)
    if loaded.current_snapshot() is None:
        return []
    found = loaded.inspect.partitions()
    keys = found.column("partition").to_pylist() if "partition" in found.column_names else [{}] * found.num_rows
    out = [Partition(dict(key or {}), rows, files, size) for key, rows, files, size in zip(
        keys, found.column("record_count").to_pylist(), found.column("file_count").to_pylist(),
        found.column("total_data_file_size_in_bytes").to_pylist(), strict=True)]
    return sorted(out, key=lambda p: [str(v) for v in p.partition.values()])


@dataclass
class Preview:
    table: str
    ref: str
    offset: int
    limit: int
    columns: list[str]
    rows: pa.Table
    has_more: bool

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "ref": self.ref, "offset": self.offset, "limit": self.limit,
                "columns": self.columns, "rows": self.rows.to_pylist(), "has_more": self.has_more}


class EngineGate:
    """The project's engine, one query at a time (pages are served from a thread pool; an engine is not
    meant for concurrent queries)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._lock = threading.Lock()

    def query(self, query: exp.Expression, refs: dict[str, str] | None = None) -> pa.Table:
        with self._lock:
            return self.project.engine.query(query, refs=refs)


def preview(project: Project, gate: EngineGate, table: str, *, ref: str = "main", offset: int = 0,
            limit: int = 50) -> Preview:
    """Rows `offset`..`offset+limit` of `table` at `ref`, in the table's file order (server-side paging)."""
    from towpath.catalog import MAIN, normalize_identifier

    catalog = _known(project, table)
    if limit < 1 or limit > PREVIEW_MAX:
        raise UiInputError(f"limit: expected 1 to {PREVIEW_MAX}, got {limit}")
    if offset < 0:
        raise UiInputError(f"offset: expected 0 or more, got {offset}")
    if ref != MAIN and catalog.table(table).snapshot_by_name(ref) is None:
        raise UiNotFoundError(f"table {table} has no branch or tag '{ref}'")
    ident = normalize_identifier(table)
    query = exp.select("*").from_(exp.to_table(ident)).limit(limit + 1).offset(offset) if offset else (
        exp.select("*").from_(exp.to_table(ident)).limit(limit + 1))
    rows = gate.query(query, refs=None if ref == MAIN else {ident: ref})
    return Preview(ident, ref, offset, limit, rows.column_names, rows.slice(0, limit), rows.num_rows > limit)


def _known(project: Project, table: str) -> Any:
    from towpath.errors import TableNotFoundError

    catalog = project.catalog
    try:
        catalog.table(table)
    except TableNotFoundError as exc:
        raise UiNotFoundError(str(exc)) from None
    return catalog
