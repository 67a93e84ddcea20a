"""Iceberg tables of the towpath catalog as a pipeline source and sink.

The sink commits exactly once, at `close(None)`: readers never see a partial
run, and a failed run leaves the table's snapshots untouched. Batches are held
in memory up to `spill_bytes`, then spilled to a temporary Parquet file; a
spilled append (or overwrite) of an unpartitioned table is committed from a
`RecordBatchReader` over that file, so memory stays bounded however much
the run wrote.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue, BooleanExpression

from towpath.catalog import MAIN, Catalog, conform, normalize_identifier
from towpath.errors import CatalogError, ConflictError, ConnectorError
from towpath.pipeline import ProcessorContext, Sink, Source
from towpath.write_modes import TABLE_WRITE_MODES, TableWriteMode, check_write_mode


class IcebergSource(Source):
    """Stream a table of the catalog (optionally filtered, projected, at a branch/tag) as Arrow batches.

    Args:
        catalog: the project's `towpath.catalog.Catalog`.
        table: `namespace.table`.
        row_filter: a pyiceberg expression or its string form (`"amount > 10 and day = '2024-01-02'"`),
            used for partition and file pruning as well as row filtering.
        columns: column names to read (default: all).
        ref: a branch or tag to read (default: main).
    """

    def __init__(
        self,
        catalog: Catalog,
        table: str,
        *,
        row_filter: str | BooleanExpression | None = None,
        columns: Sequence[str] | None = None,
        ref: str | None = None,
        name: str = "",
    ) -> None:
        self.catalog, self.table = catalog, normalize_identifier(table)
        self.row_filter, self.columns, self.ref = row_filter, tuple(columns or ("*",)), ref
        self.name = name or f"iceberg:{self.table}"

    def read(self) -> Iterator[pa.RecordBatch]:
        table = self.catalog.table(self.table)
        snapshot = table.snapshot_by_name(self.ref) if self.ref else table.current_snapshot()
        if self.ref and snapshot is None and self.ref != MAIN:
            raise CatalogError(f"processor '{self.name}': table '{self.table}' has no branch or tag '{self.ref}'")
        if snapshot is None:
            return
        try:
            scan = table.scan(
                row_filter=self.row_filter if self.row_filter is not None else AlwaysTrue(),
                selected_fields=self.columns,
                snapshot_id=snapshot.snapshot_id,
            )
            reader = scan.to_arrow_batch_reader()
        except ValueError as exc:  # pyiceberg raises ValueError/ParseException for unknown fields and bad filters
            raise ConnectorError(
                f"processor '{self.name}': cannot scan '{self.table}' with filter {self.row_filter!r} "
                f"and columns {list(self.columns)}: {exc}"
            ) from None
        except Exception as exc:
            if type(exc).__name__ == "ParseException":
                raise ConnectorError(
                    f"processor '{self.name}': invalid row_filter {self.row_filter!r} for '{self.table}': {exc}"
                ) from None
            raise
        yield from reader


class IcebergSink(Sink):
    """Stage batches and write them to a catalog table in one commit at `close(None)`.

    Args:
        catalog: the project's `towpath.catalog.Catalog`.
        table: `namespace.table` (must exist; create it with the catalog's DDL first).
        mode: append, overwrite (replace all rows) or dynamic_overwrite (replace the partitions written).
        branch: the branch to commit to (default: main).
        spill_bytes: in-memory bytes before staging goes to a temporary Parquet file.
    """

    def __init__(
        self,
        catalog: Catalog,
        table: str,
        *,
        mode: TableWriteMode = "append",
        branch: str = MAIN,
        spill_bytes: int = 256 << 20,
        snapshot_properties: dict[str, str] | None = None,
        name: str = "",
    ) -> None:
        check_write_mode(mode, TABLE_WRITE_MODES, where="IcebergSink")
        self.catalog, self.table, self.mode, self.branch = catalog, normalize_identifier(table), mode, branch
        self.spill_bytes, self.snapshot_properties = spill_bytes, dict(snapshot_properties or {})
        self.name = name or f"iceberg:{self.table}"
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0
        self._spill_path: str | None = None
        self._writer: pq.ParquetWriter | None = None
        self.rows_written = 0
        self.snapshot_id: int | None = None

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        self._target = self.catalog.table(self.table).schema().as_arrow()  # fails early on a missing table

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        # Conform per batch: a schema problem fails the run at the batch that has it, not at commit.
        conformed = conform(pa.Table.from_batches([batch]), self._target, self.table)
        self.rows_written += batch.num_rows
        if self._writer is not None:
            self._writer.write_table(conformed)
            return
        self._buffer.extend(conformed.to_batches())
        self._buffered += conformed.nbytes
        if self._buffered > self.spill_bytes:
            self._spill()

    def _spill(self) -> None:
        fd, self._spill_path = tempfile.mkstemp(prefix="towpath-iceberg-", suffix=".parquet")
        os.close(fd)
        self._writer = pq.ParquetWriter(self._spill_path, self._target)
        self._writer.write_table(pa.Table.from_batches(self._buffer, schema=self._target))
        self._buffer, self._buffered = [], 0

    @property
    def spilled(self) -> bool:
        return self._spill_path is not None

    def close(self, error: BaseException | None) -> None:
        try:
            if error is None and self.rows_written:
                self.snapshot_id = self._commit()
        finally:
            self._buffer = []
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            if self._spill_path is not None:
                os.unlink(self._spill_path)
                self._spill_path = None

    def _commit(self) -> int | None:
        if not self.spilled:
            data = pa.Table.from_batches(self._buffer, schema=self._target)
            return self.catalog.write(self.table, data, self.mode, branch=self.branch,
                                      properties=self.snapshot_properties)
        assert self._writer is not None and self._spill_path is not None
        self._writer.close()
        self._writer = None
        table = self.catalog.table(self.table)
        if not table.spec().is_unpartitioned():
            # pyiceberg cannot stream a partitioned write; this path reads the spilled data back whole.
            return self.catalog.write(self.table, pq.read_table(self._spill_path), self.mode, branch=self.branch,
                                      properties=self.snapshot_properties)
        self.catalog.check_write(self.table, self.branch)  # the streaming append below bypasses `write`
        spilled = pq.ParquetFile(self._spill_path)
        reader = pa.RecordBatchReader.from_batches(self._target, spilled.iter_batches(batch_size=65_536))
        try:
            with table.transaction() as tx:
                if self.mode != "append":
                    tx.delete(AlwaysTrue(), snapshot_properties=self.snapshot_properties, branch=self.branch)
                tx.append(reader, snapshot_properties=self.snapshot_properties, branch=self.branch)
        except CommitFailedException as exc:
            raise ConflictError(
                f"processor '{self.name}': another writer committed to '{self.table}' ({self.branch}) first: {exc}"
            ) from exc
        snap = self.catalog.table(self.table).snapshot_by_name(self.branch)
        return snap.snapshot_id if snap else None
