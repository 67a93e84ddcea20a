"""Where a move reads from: an Iceberg table pinned to one snapshot, or a SQL query.

A table source is pinned when the move starts (main's head, a tag or the given
snapshot id), so the validation pass and the write pass read the same rows and
the version records exactly which snapshot it holds. It streams Arrow batches
with the chosen columns only, one data file at a time (peak memory is about
one file's row groups, whatever the table's size). A SQL source runs once on the
project's engine (which collects its result) and is then cut into batches;
it records the snapshot of every table the query read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from towpath.catalog import normalize_identifier
from towpath.errors import CatalogError, TowpathError, located
from towpath.moves.spec import MoveSpec

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from towpath.catalog import Catalog
    from towpath.engines import Engine


@dataclass
class MoveSource:
    """One pinned source: its Arrow schema, where it came from, and its batches."""

    schema: pa.Schema
    origin: dict[str, Any]
    """What the version records: `{"table", "snapshot_id", "filter"}` or `{"sql", "tables": {table: snapshot}}`."""
    rows: int | None
    """The row count when the catalog knows it without reading (an unfiltered table), for the progress bar."""
    _table: Table | None = None
    _data: pa.Table | None = field(default=None, repr=False)

    def batches(self, columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        """The source's rows with `columns` only, in batches of at most `batch_size` rows, in source order."""
        if self._data is not None:
            yield from self._data.select(list(columns)).to_batches(max_chunksize=batch_size)
            return
        if self._table is None or self.origin["snapshot_id"] is None:
            return  # an empty table has no snapshot
        from pyiceberg.io.pyarrow import ArrowScan

        scan = self._table.scan(
            row_filter=self.origin["filter"] or "True", snapshot_id=self.origin["snapshot_id"],
            selected_fields=tuple(columns),
        )
        # One data file at a time: pyiceberg's batch reader maps every file of the scan at once
        # (10 files of 1M rows held 800 MiB); this holds one file's row groups.
        reader = ArrowScan(scan.table_metadata, scan.io, scan.projection(), scan.row_filter, scan.case_sensitive)
        for task in scan.plan_files():
            for batch in reader.to_record_batches([task]):
                # Zero-copy slices (a batch ends at a file's end, so some are shorter).
                for start in range(0, batch.num_rows, batch_size):
                    yield batch.slice(start, batch_size)

    @property
    def files(self) -> list[str]:
        """The data files of a table source at its snapshot (for engines that read them directly)."""
        if self._table is None or self.origin["snapshot_id"] is None:
            return []
        scan = self._table.scan(row_filter=self.origin["filter"] or "True", snapshot_id=self.origin["snapshot_id"])
        return [task.file.file_path for task in scan.plan_files()]


def open_source(spec: MoveSpec, catalog: Catalog, engine: Engine | None) -> MoveSource:
    """Pin the spec's source; an unknown table, tag or snapshot or a bad query is reported at its YAML line."""
    source = spec.data_movement.source
    if source.table is not None:
        return _table_source(spec, catalog)
    assert source.sql is not None and engine is not None
    file, line = spec.locate("data_movement", "source", "sql")
    engine.reset_scans()
    try:
        data = engine.query(source.sql)
    except TowpathError as exc:  # a SQL error is reported at the `sql:` line of the move file
        raise located(exc, file=file, line=line) from None
    tables = {plan.identifier: plan.snapshot_id for plan in engine.scans}
    return MoveSource(data.schema, {"sql": source.sql, "tables": tables}, data.num_rows, _data=data)


def _table_source(spec: MoveSpec, catalog: Catalog) -> MoveSource:
    source = spec.data_movement.source
    assert source.table is not None
    identifier = normalize_identifier(source.table)
    file, line = spec.locate("data_movement", "source", "table")
    try:
        table = catalog.table(identifier)
    except CatalogError as exc:
        raise located(exc, file=file, line=line) from None
    if source.snapshot_id is not None:
        snapshot = table.snapshot_by_id(source.snapshot_id)
        if snapshot is None:
            known = ", ".join(str(s.snapshot_id) for s in table.snapshots()[-5:]) or "none"
            file, line = spec.locate("data_movement", "source", "snapshot_id")
            raise located(CatalogError(
                f"table '{identifier}' has no snapshot {source.snapshot_id} (latest: {known})"), file=file, line=line)
    elif source.tag is not None:
        snapshot = table.snapshot_by_name(source.tag)
        if snapshot is None:
            refs = ", ".join(sorted(table.metadata.refs)) or "none"
            file, line = spec.locate("data_movement", "source", "tag")
            raise located(CatalogError(f"table '{identifier}' has no tag or branch '{source.tag}' (refs: {refs})"),
                          file=file, line=line)
    else:
        snapshot = table.current_snapshot()
    if source.filter is not None:
        _check_filter(spec, source.filter, table)
    rows = None
    if snapshot is not None and source.filter is None and snapshot.summary is not None:
        total = snapshot.summary.additional_properties.get("total-records")
        rows = int(total) if total is not None else None
    origin = {"table": identifier, "snapshot_id": snapshot.snapshot_id if snapshot else None, "filter": source.filter}
    return MoveSource(table.schema().as_arrow(), origin, 0 if snapshot is None else rows, _table=table)


def _check_filter(spec: MoveSpec, text: str, table: Table) -> None:
    from pyiceberg.expressions import parser
    from pyiceberg.expressions.visitors import bind

    file, line = spec.locate("data_movement", "source", "filter")
    try:
        bind(table.schema(), parser.parse(text), case_sensitive=True)
    except Exception as exc:  # noqa: BLE001 - pyiceberg raises ParseException, ValueError, ... for a bad filter
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise located(CatalogError(f"bad row filter {text!r}: {message}"), file=file, line=line) from None
