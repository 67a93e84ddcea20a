"""A CSV round trip through S3 (moto's server) with the file connectors."""

from __future__ import annotations

import boto3
import pyarrow as pa

from towpath.connectors import CsvSink, CsvSource
from towpath.pipeline import ProcessorContext


def test_csv_written_to_s3_reads_back_identically(s3_server):
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket="roundtrip")
    table = pa.table({"id": pa.array(range(1000), pa.int64()), "name": [f"n{i}" if i % 7 else None for i in range(1000)]})
    sink = CsvSink("s3://roundtrip/data/people.csv")
    sink.open(ProcessorContext(name="out"))
    for batch in table.to_batches(max_chunksize=300):
        sink.write(batch)
    sink.close(None)
    source = CsvSource("s3://roundtrip/data/people.csv", types={"id": "int64", "name": "string"})
    source.open(ProcessorContext(name="in"))
    got = pa.Table.from_batches(list(source.read()))
    source.close(None)
    assert got.select(["id", "name"]).equals(table)
