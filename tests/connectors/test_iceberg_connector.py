"""IcebergSource/IcebergSink on a real pyiceberg SQL catalog in a temp warehouse."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyiceberg.catalog import load_catalog
from pyiceberg.expressions import GreaterThanOrEqual

from towpath.catalog import Catalog
from towpath.connectors import IcebergSink, IcebergSource
from towpath.errors import ConnectorError, SchemaMismatchError
from towpath.pipeline import ProcessorContext

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("city", pa.string()), pa.field("amount", pa.float64())])


@pytest.fixture
def catalog(tmp_path) -> Catalog:
    iceberg = load_catalog(
        "t", type="sql", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=(tmp_path / "wh").as_uri()
    )
    iceberg.create_namespace("shop")
    iceberg.create_table("shop.orders", schema=SCHEMA)
    return Catalog(iceberg)


def batch(ids: range) -> pa.RecordBatch:
    return pa.record_batch(
        [pa.array(list(ids), pa.int64()), pa.array([f"c{i % 3}" for i in ids]), pa.array([i * 1.5 for i in ids])],
        schema=SCHEMA,
    )


def write(sink: IcebergSink, *batches: pa.RecordBatch, error: BaseException | None = None) -> None:
    sink.open(ProcessorContext(name=sink.name))
    for b in batches:
        sink.write(b)
    sink.close(error)


def read(source: IcebergSource) -> pa.Table:
    source.open(ProcessorContext(name=source.name))
    out = pa.Table.from_batches(list(source.read()))
    source.close(None)
    return out


def snapshots(catalog: Catalog) -> list[int]:
    return [s.snapshot_id for s in catalog.table("shop.orders").snapshots()]


def test_sink_commits_all_batches_as_one_snapshot(catalog):
    sink = IcebergSink(catalog, "shop.orders")
    write(sink, batch(range(10)), batch(range(10, 20)), batch(range(20, 25)))
    assert len(snapshots(catalog)) == 1 and sink.snapshot_id == snapshots(catalog)[0]
    assert sorted(catalog.read("shop.orders").column("id").to_pylist()) == list(range(25))


def test_sink_publishes_nothing_before_close_or_on_error(catalog):
    sink = IcebergSink(catalog, "shop.orders")
    sink.open(ProcessorContext(name="x"))
    sink.write(batch(range(5)))
    assert snapshots(catalog) == []  # staged, not visible
    sink.close(RuntimeError("downstream failed"))
    assert snapshots(catalog) == [] and catalog.read("shop.orders").num_rows == 0


def test_spilled_run_streams_from_parquet_and_still_commits_once(catalog):
    write(IcebergSink(catalog, "shop.orders"), batch(range(3)))
    [before] = snapshots(catalog)
    sink = IcebergSink(catalog, "shop.orders", mode="overwrite", spill_bytes=1000)
    sink.open(ProcessorContext(name="x"))
    for start in range(0, 2000, 200):
        sink.write(batch(range(start, start + 200)))
    assert sink.spilled
    sink.close(None)
    ids = catalog.read("shop.orders").column("id").to_pylist()
    assert sorted(ids) == list(range(2000))  # overwrite removed the first three rows' snapshot data
    table = catalog.table("shop.orders")
    later = [s.snapshot_id for s in table.snapshots() if s.snapshot_id != before]
    rows_seen = [table.scan(snapshot_id=s).to_arrow().num_rows for s in later]
    assert rows_seen[-1] == 2000 and set(rows_seen) <= {0, 2000}  # no snapshot ever held part of the run


def test_source_filters_projects_and_reads_a_tag(catalog):
    write(IcebergSink(catalog, "shop.orders"), batch(range(10)))
    first = snapshots(catalog)[0]
    catalog.table("shop.orders").manage_snapshots().create_tag(first, "v1").commit()
    write(IcebergSink(catalog, "shop.orders"), batch(range(10, 20)))
    got = read(IcebergSource(catalog, "shop.orders", row_filter="id >= 8 and city = 'c0'", columns=["id"]))
    assert got.column_names == ["id"] and sorted(got.column("id").to_pylist()) == [9, 12, 15, 18]
    expr = read(IcebergSource(catalog, "shop.orders", row_filter=GreaterThanOrEqual("id", 18)))
    assert sorted(expr.column("id").to_pylist()) == [18, 19]
    tagged = read(IcebergSource(catalog, "shop.orders", ref="v1"))
    assert tagged.num_rows == 10


def test_bad_filter_and_schema_are_clear_errors(catalog):
    write(IcebergSink(catalog, "shop.orders"), batch(range(3)))
    with pytest.raises(ConnectorError, match="iceberg:shop.orders.*nope"):
        read(IcebergSource(catalog, "shop.orders", row_filter="nope > 1"))
    sink = IcebergSink(catalog, "shop.orders")
    sink.open(ProcessorContext(name="x"))
    with pytest.raises(SchemaMismatchError, match="extra"):
        sink.write(batch(range(2)).append_column("extra", pa.array([1, 2])))
    sink.close(SchemaMismatchError("x"))
    assert len(snapshots(catalog)) == 1
