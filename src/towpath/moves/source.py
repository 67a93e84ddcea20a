"""Where a move reads from: an Iceberg table pinned to one snapshot, or a SQL query.

A table source is pinned when the move starts (main's head, a tag or the given
snapshot id), so the validation pass and the write pass read the same rows and
the version records exactly which snapshot it holds. It streams Arrow batches
with the chosen columns only, one data file at a time and decoded as it is
read (peak memory is a few batches, whatever the table's or a file's size). A SQL source runs once on the
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
        from pyiceberg.io.pyarrow import ArrowScan, _read_all_delete_files, schema_to_pyarrow

        scan = self._table.scan(
            row_filter=self.origin["filter"] or "True", snapshot_id=self.origin["snapshot_id"],
            selected_fields=tuple(columns),
        )
        wanted = schema_to_pyarrow(scan.projection(), include_field_ids=False)
        ids = [scan.projection().find_field(name).field_id for name in wanted.names]
        tasks = list(scan.plan_files())
        reader = ArrowScan(scan.table_metadata, scan.io, scan.projection(), scan.row_filter, scan.case_sensitive)
        deletes = _read_all_delete_files(scan.io, tasks)
        plain = self.origin["filter"] is None and not any(pa.types.is_nested(f.type) for f in wanted)
        for task in tasks:
            direct = plain and not task.delete_files and task.file.file_format.name == "PARQUET"
            # The common case (a data file with every column, no deletes, no filter) reads Parquet row
            # groups batch by batch: ~16 MiB of Arrow for a 1M-row file. Anything else goes through
            # pyiceberg's per-task generator (projection, schema evolution, filter, positional deletes),
            # never its `to_record_batches`, which decodes a whole file into a list first.
            batches = (_parquet_batches(scan.io, task.file.file_path, wanted, ids, batch_size) if direct else None)
            if batches is None:
                batches = reader._record_batches_from_scan_tasks_and_deletes([task], deletes)
            for batch in batches:
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


def _parquet_batches(io: Any, path: str, wanted: pa.Schema, ids: list[int], batch_size: int) -> Iterator[pa.RecordBatch] | None:
    """`wanted`'s columns of one Parquet data file, found by Iceberg field id, row group by row group.

    None when the file cannot be read this plainly (a column missing from an
    older file, or a type that needs pyiceberg's conversion).
    """
    import pyarrow.parquet as pq

    stream = io.new_input(path).open()
    file = pq.ParquetFile(stream)
    by_id = {field.metadata.get(b"PARQUET:field_id"): field for field in file.schema_arrow if field.metadata}
    found = [by_id.get(str(i).encode()) for i in ids]
    if any(f is None or not _castable(f.type, w.type) for f, w in zip(found, wanted, strict=True)):
        file.close()
        stream.close()
        return None

    def batches() -> Iterator[pa.RecordBatch]:
        with stream, file:
            for batch in file.iter_batches(batch_size=batch_size, columns=[f.name for f in found]):  # type: ignore[union-attr]
                arrays = [c if c.type == w.type else c.cast(w.type) for c, w in zip(batch.columns, wanted, strict=True)]
                yield pa.RecordBatch.from_arrays(arrays, schema=wanted)

    return batches()


def _castable(have: pa.DataType, want: pa.DataType) -> bool:
    """The file's type is the table's, or only its string/binary offsets' width differs."""
    if have == want:
        return True
    pairs = ((pa.types.is_string, pa.types.is_large_string), (pa.types.is_binary, pa.types.is_large_binary))
    return any((a(have) or b(have)) and (a(want) or b(want)) for a, b in pairs)
