"""CDC into an Iceberg table: one commit per batch merging on the primary key, the position inside it.

Each batch keeps the last change of every key (commit order), replaces the data
files that may hold those keys by files without them plus the surviving
versions (copy-on-write, written by DuckDB: `cdc/rewrite.py`), and sets the
table property `towpath.cdc.position` — one overwrite snapshot and the property
in one pyiceberg transaction, so the data and the position move together. The snapshot summary carries the position
too (`towpath.cdc.position`, `towpath.cdc.source-position`), for history.
Exactly-once: a restarted job skips every change at or before the table's
recorded position, and a commit that lost a race is redone on the reloaded
table, whose position then filters the batch again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from towpath.catalog import Catalog, conform, normalize_identifier
from towpath.catalog import compact as compact_table
from towpath.cdc.changes import DELETE, META, OP, ChangeBatch, Position, last_per_key
from towpath.cdc.rewrite import Rewrite, Rewriter, discard
from towpath.cdc.spec import IcebergTargetSpec, parse_transform

__all__ = ["POSITION_PROPERTY", "IcebergTarget"]

POSITION_PROPERTY = "towpath.cdc.position"
SOURCE_POSITION_PROPERTY = "towpath.cdc.source-position"


class IcebergTarget:
    def __init__(self, catalog: Catalog, spec: IcebergTargetSpec) -> None:
        self.catalog, self.spec = catalog, spec
        self.identifier = normalize_identifier(spec.table)
        self.name = f"iceberg:{self.identifier}"
        self._batches = 0
        self.compactions = 0
        self.files_compacted = 0
        self.rows_rewritten = 0
        """Unchanged rows copied into new files by the batches (copy-on-write's cost)."""
        self._rewriter = Rewriter()

    def position(self) -> Position | None:
        if not self.catalog.exists(self.identifier):
            return None
        return _position(self.catalog.table(self.identifier))

    def columns(self) -> list[str] | None:
        if not self.catalog.exists(self.identifier):
            return None
        return list(self.catalog.table(self.identifier).schema().column_names)

    # -- snapshot ------------------------------------------------------------------------------

    def begin_snapshot(self, schema: pa.Schema, key: list[str]) -> _Load:
        self.catalog.check_write(self.identifier)
        if not self.catalog.exists(self.identifier):
            self._create(schema, key)
        else:
            self.evolve(schema)
        return _Load(self)

    def _create(self, schema: pa.Schema, key: list[str]) -> None:
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.schema import Schema
        from pyiceberg.transforms import (
            BucketTransform,
            DayTransform,
            HourTransform,
            IdentityTransform,
            MonthTransform,
            Transform,
            TruncateTransform,
            YearTransform,
        )

        iceberg = _iceberg_schema(pa.schema([f.with_nullable(f.name not in key and f.nullable) for f in schema]))
        iceberg = Schema(*iceberg.fields, identifier_field_ids=[iceberg.find_field(k).field_id for k in key])
        transforms: dict[str, Any] = {"identity": IdentityTransform, "year": YearTransform, "month": MonthTransform,
                                      "day": DayTransform, "hour": HourTransform}
        parts = []
        for i, text in enumerate(self.spec.partition_by):
            kind, column, n = parse_transform(text)
            transform: Transform[Any, Any] = (BucketTransform(n or 0) if kind == "bucket" else
                                              TruncateTransform(n or 0) if kind == "truncate" else transforms[kind]())
            source = iceberg.find_field(column).field_id
            parts.append(PartitionField(source_id=source, field_id=1000 + i, transform=transform,
                                        name=f"{column}_{kind}" if kind != "identity" else column))
        namespace = self.identifier.split(".")[0]
        self.catalog.ensure_namespace(namespace)
        self.catalog.iceberg.create_table(self.identifier, iceberg, partition_spec=PartitionSpec(*parts),
                                          properties={"format-version": "2"})

    # -- streaming -----------------------------------------------------------------------------

    def apply(self, batch: ChangeBatch, key: list[str]) -> int:
        self.catalog.check_write(self.identifier)
        assert batch.end is not None

        def attempt(table: Table) -> int:
            changes = last_per_key(batch.after(_position(table)), key)
            if changes.num_rows == 0:
                return 0
            arrow = table.schema().as_arrow()
            upserts = changes.filter(pc.not_equal(changes[OP], DELETE)).drop_columns(list(META))
            keys = conform(changes.select(key), pa.schema([arrow.field(k) for k in key]), self.identifier)
            rewrite = self._rewriter.rewrite(table, keys, conform(upserts, arrow, self.identifier))
            props = _props(batch.end, batch.source_position)  # type: ignore[arg-type]
            try:
                tx = table.transaction()
                _commit(tx, rewrite, props)
                tx.set_properties(props)
                tx.commit_transaction()
            except BaseException:
                discard(table, rewrite.added)  # a lost race is redone from the reloaded table
                raise
            self.rows_rewritten += rewrite.rows_rewritten
            return int(changes.num_rows)

        applied = self.catalog.commit_with_retry(self.identifier, attempt, what="applying changes")
        self._batches += 1
        if self.spec.compact_every and self._batches % self.spec.compact_every == 0:
            self.compact()
        return applied

    def compact(self) -> None:
        """Merge each partition's small files, then expire snapshots older than an hour, keeping the last 10.

        Runs after a batch's commit, so the data and the position are durable
        first; the rewrite is one more commit that changes no row (the position is
        a table property, which it keeps). A crash during it leaves only unreferenced
        files; the next compaction starts over.
        """
        result = compact_table(self.catalog, self.identifier, min_files=self.spec.compact_min_files,
                         expire_older_than=dt.timedelta(hours=1), retain_last=10)
        self.compactions += 1
        self.files_compacted += result.files_removed

    def evolve(self, schema: pa.Schema) -> None:
        if not self.catalog.exists(self.identifier):
            return
        table = self.catalog.table(self.identifier)
        have = set(table.schema().column_names)
        added = [f.with_nullable(True) for f in schema if f.name not in have]
        if not added:
            return
        new = _iceberg_schema(pa.schema(added))

        def attempt(t: Table) -> None:
            with t.update_schema() as update:
                for field in new.fields:
                    if field.name not in t.schema().column_names:
                        update.add_column(field.name, field.field_type)

        self.catalog.commit_with_retry(self.identifier, attempt, what="adding columns")

    def close(self) -> None:
        self._rewriter.close()


class _Load:
    """The snapshot as one transaction: delete everything, append each batch, set the position, commit."""

    def __init__(self, target: IcebergTarget) -> None:
        self.target = target
        self.table = target.catalog.table(target.identifier)
        self.tx = self.table.transaction()
        self.schema = self.table.schema().as_arrow()
        if self.table.current_snapshot() is not None:
            self.tx.delete(AlwaysTrue())
        self.pending: list[pa.RecordBatch] = []
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.rows += batch.num_rows
        if self.rows >= 1_000_000:
            self._flush(None)

    def _flush(self, props: dict[str, str] | None) -> None:
        if self.pending:
            data = conform(pa.Table.from_batches(self.pending), self.schema, self.target.identifier)
            self.tx.append(data, snapshot_properties=props or {})
            self.pending, self.rows = [], 0

    def commit(self, position: Position, source_position: str) -> None:
        props = _props(position, source_position)
        self._flush(props)
        self.tx.set_properties(props)
        self.tx.commit_transaction()


def _iceberg_schema(schema: pa.Schema) -> Schema:
    """An Iceberg schema for Arrow fields (ids 1..n; the catalog renumbers them on create or add)."""
    from pyiceberg.io.pyarrow import pyarrow_to_schema
    from pyiceberg.table.name_mapping import MappedField, NameMapping

    mapping = NameMapping([MappedField.model_validate({"field-id": i + 1, "names": [f.name]})
                           for i, f in enumerate(schema)])
    return pyarrow_to_schema(schema, name_mapping=mapping)


def _commit(tx: Any, rewrite: Rewrite, props: dict[str, str]) -> None:
    """One overwrite snapshot: exactly the rewritten files out, their replacements in."""
    with tx.update_snapshot(snapshot_properties=props).overwrite() as overwrite:
        for data_file in rewrite.removed:
            overwrite.delete_data_file(data_file)
        for data_file in rewrite.added:
            overwrite.append_data_file(data_file)


def _props(position: Position, source_position: str) -> dict[str, str]:
    return {POSITION_PROPERTY: str(position), SOURCE_POSITION_PROPERTY: source_position}


def _position(table: Table) -> Position | None:
    text = table.properties.get(POSITION_PROPERTY)
    return Position.parse(text) if text else None

