"""One behaviour suite for every SQL database connector: SQLite, PostgreSQL and MySQL (MariaDB).

Each case runs against each backend (dlt's destination matrix, pyiceberg's catalog behaviours);
what only one database does is tested in its own file. Rows are read back through the
connector's own source, so the suite needs nothing but the connector.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from towpath.connectors import (
    MySqlSink,
    MySqlSource,
    PostgresSink,
    PostgresSource,
    SqliteSink,
    SqliteSource,
    UnknownObjectError,
)
from towpath.errors import ConnectorError
from towpath.pipeline import ProcessorContext

BATCH = pa.record_batch({
    "id": pa.array([1, 2, 3], pa.int64()),
    "name": ["a", "", None],
    "price": pa.array([Decimal("1.10"), None, Decimal("3.30")], pa.decimal128(10, 2)),
})


@dataclass
class Backend:
    name: str
    dsn: str
    sink_type: Callable[..., Any]
    source_type: Callable[..., Any]

    def sink(self, table: str, **options: Any) -> Any:
        return self.sink_type(self.dsn, table, **options)

    def write(self, table: str, *batches: pa.RecordBatch, error: BaseException | None = None, **options: Any) -> None:
        sink = self.sink(table, **options)
        sink.open(ProcessorContext(name=sink.name))
        for batch in batches:
            sink.write(batch)
        sink.close(error)

    def read(self, query: str) -> list[dict[str, Any]]:
        source = self.source_type(self.dsn, query=query)
        source.open(ProcessorContext(name=source.name))
        try:
            return [row for batch in source.read() for row in batch.to_pylist()]
        finally:
            source.close(None)


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def db(request: pytest.FixtureRequest, tmp_path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", str(tmp_path / "contract.db"), SqliteSink, SqliteSource)
    if request.param == "postgres":
        return Backend("postgres", request.getfixturevalue("postgres_server").dsn, PostgresSink, PostgresSource)
    return Backend("mysql", request.getfixturevalue("mysql_server").dsn, MySqlSink, MySqlSource)


@pytest.fixture
def table() -> str:
    return f"contract_{uuid.uuid4().hex[:8]}"


def ids_and_names(db: Backend, table: str) -> list[tuple[int, str | None]]:
    return [(r["id"], r["name"]) for r in db.read(f"SELECT id, name FROM {table} ORDER BY id")]


def test_append_creates_the_table_and_adds_rows(db, table):
    db.write(table, BATCH)
    db.write(table, BATCH.slice(0, 1))
    assert ids_and_names(db, table) == [(1, "a"), (1, "a"), (2, ""), (3, None)]


def test_overwrite_keeps_exactly_the_written_rows(db, table):
    db.write(table, BATCH)
    db.write(table, BATCH.slice(1, 1), mode="overwrite")
    assert ids_and_names(db, table) == [(2, "")]


def test_overwrite_with_no_rows_empties_the_table_and_an_empty_result_reads_as_no_rows(db, table):
    db.write(table, BATCH)
    db.write(table, mode="overwrite")
    assert ids_and_names(db, table) == []


def test_merge_updates_by_key_and_inserts_new_keys(db, table):
    db.write(table, BATCH, mode="merge", key=["id"])
    change = pa.record_batch({"id": pa.array([2, 9], pa.int64()), "name": ["b", "z"],
                              "price": pa.array([Decimal("7.00")] * 2, pa.decimal128(10, 2))})
    db.write(table, change, mode="merge", key=["id"])
    rows = db.read(f"SELECT id, name, price FROM {table} ORDER BY id")
    assert [(r["id"], r["name"], Decimal(str(r["price"])) if r["price"] is not None else None) for r in rows] == [
        (1, "a", Decimal("1.1")), (2, "b", Decimal(7)), (3, None, Decimal("3.3")), (9, "z", Decimal(7)),
    ]


@pytest.mark.parametrize("mode", ["append", "overwrite", "merge"])
def test_a_failed_run_changes_nothing(db, table, mode):
    db.write(table, BATCH.slice(0, 1), mode="merge", key=["id"])
    db.write(table, BATCH.slice(1), mode=mode, key=["id"], error=RuntimeError("boom"))
    assert ids_and_names(db, table) == [(1, "a")]


def test_write_modes_are_checked_before_connecting(db):
    with pytest.raises(ConnectorError, match="mode 'merge' needs key"):
        db.sink("t", mode="merge")
    with pytest.raises(ConnectorError, match="unknown write mode 'upsert'; expected one of append, overwrite, merge"):
        db.sink("t", mode="upsert", key=["id"])


def test_an_unknown_table_is_named(db, table):
    db.write(f"{table}_other", BATCH)
    with pytest.raises(UnknownObjectError, match=table):
        db.read(f"SELECT * FROM {table}")
