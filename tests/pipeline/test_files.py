"""File connectors: round trips with nulls and types, globs, compression, clear errors, object storage."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from towpath.connectors.files import (
    CsvSink,
    CsvSource,
    JsonLinesSink,
    JsonLinesSource,
    ParquetSink,
    ParquetSource,
)
from towpath.errors import ConnectorError
from towpath.pipeline import Collect, Pipeline, ProcessorContext, ProcessorFailedError, TableSource

SCHEMA = pa.schema([
    ("id", pa.int64()), ("name", pa.string()), ("amount", pa.float64()), ("day", pa.date32()),
    ("at", pa.timestamp("us")), ("ok", pa.bool_()),
])
DATA = pa.table({
    "id": [1, 2, 3],
    "name": ["ada", None, 'quote "me", ok'],
    "amount": [1.5, None, -3.25],
    "day": [dt.date(2024, 1, 2), None, dt.date(2024, 12, 31)],
    "at": [dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 6, 1), None],
    "ok": [True, None, False],
}, schema=SCHEMA)


def copy(source, sink) -> Collect:
    Pipeline([source, sink]).run()


def read_back(source) -> pa.Table:
    sink = Collect()
    Pipeline([source, sink]).run()
    return sink.table


@pytest.mark.parametrize("sink_cls,source_factory,name", [
    (ParquetSink, lambda p: ParquetSource(p), "data.parquet"),
    (CsvSink, lambda p: CsvSource(p, types=SCHEMA), "data.csv"),
    (CsvSink, lambda p: CsvSource(p, types=SCHEMA), "data.csv.gz"),
    (JsonLinesSink, lambda p: JsonLinesSource(p, schema=SCHEMA), "data.jsonl"),
])
def test_round_trip_keeps_values_nulls_and_types(tmp_path: Path, sink_cls, source_factory, name: str) -> None:
    path = str(tmp_path / name)
    copy(TableSource(DATA, batch_rows=2), sink_cls(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temp file left behind
    back = read_back(source_factory(path))
    assert back.schema == SCHEMA
    assert back.to_pylist() == DATA.to_pylist()
    if name.endswith(".gz"):
        with gzip.open(path, "rt") as text:
            assert text.readline().startswith('"id"')


def test_csv_options_delimiter_no_header_null_values_and_directory(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text("1;ada;NA\n2;bob;3\n")
    (folder / "b.csv").write_text("3;'c;d';4\n")
    (folder / "notes.md").write_text("ignored\n")
    source = CsvSource(str(folder), delimiter=";", header=False, column_names=["id", "name", "n"],
                       null_values=["NA"], quote_char="'", types={"n": "int32"})
    back = read_back(source)
    assert back.to_pylist() == [{"id": 1, "name": "ada", "n": None}, {"id": 2, "name": "bob", "n": 3},
                                {"id": 3, "name": "c;d", "n": 4}]
    assert back.schema.field("n").type == pa.int32()
    globbed = read_back(CsvSource(str(folder / "b*.csv"), delimiter=";", header=False, quote_char="'"))
    assert globbed.num_rows == 1


def test_missing_input_file_names_the_processor_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(ProcessorFailedError) as info:
        Pipeline([CsvSource(str(missing), name="orders_in"), Collect()]).run()
    cause = info.value.__cause__
    assert isinstance(cause, ConnectorError)
    assert str(cause) == f"orders_in: no such file: '{missing}'"
    assert "processor 'orders_in' failed while opening" in str(info.value)


def test_bad_csv_row_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,name\n1,a\n2,b\n3,c,extra\n4,d\n")
    with pytest.raises(ProcessorFailedError) as info:
        read_back(CsvSource(str(path)))
    assert f"{path}:4: expected 2 columns, got 3: '3,c,extra'" in str(info.value.__cause__)


def test_bad_csv_value_names_the_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,amount\n1,2\n2,lots\n")
    with pytest.raises(ProcessorFailedError) as info:
        read_back(CsvSource(str(path), types={"amount": "int64"}))
    message = str(info.value.__cause__)
    assert message.startswith(f"csvsource: {path}: bad CSV:") and "lots" in message


def test_failed_pipeline_leaves_no_partial_output_file(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"

    def explode(batch: pa.RecordBatch) -> pa.RecordBatch:
        if batch.column("id")[0].as_py() >= 2:
            raise RuntimeError("late failure")
        return batch

    from towpath.pipeline import Map
    with pytest.raises(ProcessorFailedError, match="late failure"):
        Pipeline([TableSource(DATA, batch_rows=1), Map(explode), ParquetSink(str(out))]).run()
    assert list(tmp_path.iterdir()) == []


def test_parquet_reads_selected_columns_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"id": list(range(1000)), "x": ["y"] * 1000}), path, row_group_size=300)
    sink = Collect()
    Pipeline([ParquetSource(str(path), columns=["id"], batch_rows=128), sink]).run()
    assert sink.table.column_names == ["id"] and sink.table.column("id").to_pylist() == list(range(1000))
    assert max(b.num_rows for b in sink.batches) <= 128


def test_object_storage_round_trip_publishes_only_at_close(s3_server: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.create_bucket(Bucket="towpath-pipeline")
    copy(TableSource(DATA), ParquetSink("s3://towpath-pipeline/out/data.parquet"))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="towpath-pipeline")["Contents"]]
    assert keys == ["out/data.parquet"]
    assert read_back(ParquetSource("s3://towpath-pipeline/out/")).to_pylist() == DATA.to_pylist()

    def fail(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise RuntimeError("no")

    from towpath.pipeline import Map
    with pytest.raises(ProcessorFailedError):
        Pipeline([TableSource(DATA), Map(fail), CsvSink("s3://towpath-pipeline/out/failed.csv")]).run()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="towpath-pipeline")["Contents"]]
    assert keys == ["out/data.parquet"]


def test_parquet_sink_dictionary_encodes_only_low_cardinality_columns(tmp_path) -> None:
    from towpath.connectors.files import dictionary_columns

    table = pa.table({"id": list(range(1000)), "country": ["US", "BR"] * 500, "note": [f"n{i}" for i in range(1000)]})
    assert dictionary_columns(table.to_batches()[0]) == ["country"]
    sink = ParquetSink(str(tmp_path / "out.parquet"))
    sink.open(ProcessorContext("parquet"))
    sink.write(table.to_batches()[0])
    sink.close(None)

    meta = pq.ParquetFile(tmp_path / "out.parquet").metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(3)}
    assert "RLE_DICTIONARY" in encodings["country"]
    assert "RLE_DICTIONARY" not in encodings["id"] and "RLE_DICTIONARY" not in encodings["note"]
    assert pq.read_table(tmp_path / "out.parquet").equals(table)
