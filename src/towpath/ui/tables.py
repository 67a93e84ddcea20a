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


class Descriptions:
    """Table descriptions kept between requests, each under the metadata file it was read from.

    Every commit writes a new metadata file, so a description is reused exactly while its table is
    unchanged; one catalog query (`Catalog.metadata_locations`) tells which those are. Without it
    (a REST catalog) every table is described afresh.
    """

    def __init__(self, project: Project) -> None:
        self.project = project
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[str, TableDescription]] = {}

    def all(self) -> list[TableDescription]:
        """Every table's description, sorted by name (`towpath table list` order)."""
        from towpath.catalog import describe

        catalog = self.project.catalog
        locations = catalog.metadata_locations()
        if locations is None:
            return [describe(catalog, name) for name in catalog.list_tables()]
        with self._lock:
            self._kept = {name: kept for name, kept in self._kept.items() if name in locations}
        return [self._at(name, location) for name, location in sorted(locations.items())]

    def one(self, table: str) -> TableDescription:
        from towpath.catalog import describe, normalize_identifier

        catalog = self.project.catalog
        name = normalize_identifier(table)
        location = (catalog.metadata_locations() or {}).get(name)
        return describe(catalog, name) if location is None else self._at(name, location)

    def _at(self, name: str, location: str) -> TableDescription:
        from towpath.catalog import describe_table

        with self._lock:
            kept = self._kept.get(name)
        if kept is not None and kept[0] == location:
            return kept[1]
        loaded = self.project.catalog.table(name)
        found = describe_table(loaded, name)
        with self._lock:
            self._kept[name] = (loaded.metadata_location, found)
        return found


def table_list(descriptions: Descriptions) -> list[TableSummary]:
    return [summary(d) for d in descriptions.all()]


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


def table_page(project: Project, descriptions: Descriptions, table: str) -> TablePage:
    from towpath.catalog import history

    catalog = _known(project, table)
    return TablePage(descriptions.one(table), partitions(project, table), history(catalog, table))


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
