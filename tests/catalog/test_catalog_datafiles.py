"""Data files split by the partition spec with one sort: the same files pyiceberg's own split writes."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pyarrow as pa
from pyiceberg.io.pyarrow import _dataframe_to_data_files

from towpath.catalog import Catalog, apply_ddl, compact, last_compacted
from towpath.catalog.datafiles import partitions, write_data_files

DDL = "CREATE TABLE foo.events (id BIGINT, kind STRING, at TIMESTAMP) PARTITIONED BY (days(at), kind) STORED AS ICEBERG"


def events(n: int) -> pa.Table:
    days = [None if i % 11 == 0 else dt.datetime(2024, 1, 1 + i % 3, i % 24, tzinfo=dt.UTC) for i in range(n)]
    return pa.table({
        "id": pa.array(range(n), pa.int64()), "kind": pa.array([None if i % 7 == 0 else f"k{i % 2}" for i in range(n)]),
        "at": pa.array(days, pa.timestamp("us", "UTC")),
    })


def test_each_partition_gets_exactly_its_rows_like_pyiceberg(catalog: Catalog) -> None:
    apply_ddl(catalog, DDL)
    table = catalog.table("foo.events")
    data = events(200)
    pieces = list(partitions(table, data))
    assert sum(rows.num_rows for _, rows in pieces) == 200
    keys = [key.partition if key else None for key, _ in pieces]
    assert len(set(map(str, keys))) == len(keys)  # each partition once (nulls included)
    for key, rows in pieces:
        assert key is not None
        day, kind = key.partition[0], key.partition[1]
        assert set(rows.column("kind").to_pylist()) == {kind}
        stamps = rows.column("at").to_pylist()
        assert {None if s is None else (s.date() - dt.date(1970, 1, 1)).days for s in stamps} == {day}
    ours = Counter((str(f.partition), f.record_count) for f in write_data_files(table, data))
    theirs = Counter((str(f.partition), f.record_count)
                     for f in _dataframe_to_data_files(table_metadata=table.metadata, df=data, io=table.io))
    assert ours == theirs


def test_written_files_commit_and_read_back_and_compaction_is_recorded(catalog: Catalog) -> None:
    apply_ddl(catalog, DDL)
    data = events(50)
    for _ in range(2):
        catalog.commit_files("foo.events", write_data_files(catalog.table("foo.events"), data))
    back = catalog.read("foo.events").sort_by("id")
    assert back.num_rows == 100 and back.column("id").to_pylist() == sorted(list(range(50)) * 2)
    assert last_compacted(catalog, "foo.events") is None
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    result = compact(catalog, "foo.events")
    assert result.files_removed > result.files_added > 0
    stamp = last_compacted(catalog, "foo.events")
    assert stamp is not None and stamp >= before
    assert catalog.read("foo.events").num_rows == 100


def test_an_unpartitioned_table_is_one_piece(catalog: Catalog) -> None:
    apply_ddl(catalog, "CREATE TABLE foo.flat (id BIGINT) STORED AS ICEBERG")
    data = pa.table({"id": pa.array([3, 1, 2], pa.int64())})
    [(key, rows)] = list(partitions(catalog.table("foo.flat"), data))
    assert key is None and rows.column("id").to_pylist() == [3, 1, 2]


def test_rows_of_one_partition_are_one_piece_as_they_came(catalog: Catalog) -> None:
    apply_ddl(catalog, DDL)
    table = catalog.table("foo.events")
    day = dt.datetime(2024, 1, 2, 5, tzinfo=dt.UTC)
    data = pa.concat_tables([  # two chunks, ids out of order: the one piece keeps both as they are
        pa.table({"id": pa.array([3, 1], pa.int64()), "kind": ["k1", "k1"], "at": pa.array([day, day], pa.timestamp("us", "UTC"))}),
        pa.table({"id": pa.array([2], pa.int64()), "kind": ["k1"], "at": pa.array([day], pa.timestamp("us", "UTC"))}),
    ])
    [(key, rows)] = list(partitions(table, data))
    assert key is not None and list(key.partition) == [(day.date() - dt.date(1970, 1, 1)).days, "k1"]
    assert rows is data
    nulls = pa.table({"id": pa.array([1, 2], pa.int64()), "kind": pa.array([None, None], pa.string()),
                      "at": pa.array([day, day], pa.timestamp("us", "UTC"))})
    [(key, rows)] = list(partitions(table, nulls))
    assert key is not None and key.partition[1] is None and rows is nulls
    ours = [(str(f.partition), f.record_count) for f in write_data_files(table, data)]
    theirs = [(str(f.partition), f.record_count)
              for f in _dataframe_to_data_files(table_metadata=table.metadata, df=data, io=table.io)]
    assert ours == theirs and [count for _, count in ours] == [3]
