"""SQLite source and sink against real database files."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal

import pyarrow as pa
import pytest

from towpath.connectors import DatabaseUnreachableError, SqliteSink, SqliteSource, UnknownObjectError
from towpath.pipeline import ProcessorContext

UTC = dt.UTC

BATCH = pa.record_batch(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "name": ["a", "", None],
        "price": pa.array([Decimal("1.10"), None, Decimal("3.30")], pa.decimal128(10, 2)),
        "day": pa.array([dt.date(2024, 5, 1), None, dt.date(2024, 5, 3)], pa.date32()),
        "seen": pa.array([dt.datetime(2024, 5, 1, 12, tzinfo=UTC)] * 3, pa.timestamp("us", tz="UTC")),
        "flag": [True, False, None],
    }
)


def run_source(source: SqliteSource) -> pa.Table:
    source.open(ProcessorContext(name=source.name))
    try:
        batches = list(source.read())
    finally:
        source.close(None)
    return pa.Table.from_batches(batches)


def run_sink(sink: SqliteSink, *batches: pa.RecordBatch, error: BaseException | None = None) -> None:
    sink.open(ProcessorContext(name=sink.name))
    for batch in batches:
        sink.write(batch)
    sink.close(error)


def rows(path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_written_table_reads_back_with_the_same_arrow_types(tmp_path):
    db = tmp_path / "shop.db"
    run_sink(SqliteSink(db, "items"), BATCH)
    table = run_source(SqliteSource(db, table="items"))
    assert table.schema == BATCH.schema
    assert table.to_pylist() == pa.Table.from_batches([BATCH]).to_pylist()


def test_reads_in_batches_of_batch_size(tmp_path):
    db = tmp_path / "n.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE n (v INTEGER, label TEXT)")
        conn.executemany("INSERT INTO n VALUES (?, ?)", [(i, f"l{i}") for i in range(2500)])
    source = SqliteSource(db, table="n", batch_size=1000)
    source.open(ProcessorContext(name="n"))
    assert [b.num_rows for b in source.read()] == [1000, 1000, 500]
    source.close(None)
    query = run_source(SqliteSource(db, query="SELECT v * 2 AS twice FROM n WHERE v < 3 ORDER BY v"))
    assert query.column("twice").to_pylist() == [0, 2, 4]


def test_missing_file_table_and_column_are_named(tmp_path):
    with pytest.raises(DatabaseUnreachableError, match="nope.db.*does not exist"):
        SqliteSource(tmp_path / "nope.db", table="t").open(ProcessorContext(name="x"))
    db = tmp_path / "x.db"
    run_sink(SqliteSink(db, "items"), BATCH)
    with pytest.raises(UnknownObjectError, match="processor 'sqlite:ghost'.*no such table: ghost"):
        run_source(SqliteSource(db, table="ghost"))
    with pytest.raises(UnknownObjectError, match="no such column: nope"):
        run_source(SqliteSource(db, table="items", columns=["nope"]))
    with pytest.raises(UnknownObjectError, match="has no column named extra"):
        run_sink(SqliteSink(db, "items"), BATCH.append_column("extra", pa.array([1, 2, 3])))
