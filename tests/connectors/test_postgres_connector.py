"""PostgreSQL source and sink against a real server (the session `postgres_server`)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest

from towpath.connectors import (
    DatabaseAuthError,
    DatabaseUnreachableError,
    PostgresSink,
    PostgresSource,
    UnknownObjectError,
)
from towpath.errors import TransientError
from towpath.pipeline import ProcessorContext

UTC = dt.UTC


def run_source(source: PostgresSource) -> list[pa.RecordBatch]:
    source.open(ProcessorContext(name=source.name))
    try:
        return list(source.read())
    finally:
        source.close(None)


def run_sink(sink: PostgresSink, *batches: pa.RecordBatch, error: BaseException | None = None) -> None:
    sink.open(ProcessorContext(name=sink.name))
    for batch in batches:
        sink.write(batch)
    sink.close(error)


def rows(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def typed_table(postgres_server) -> str:
    name = f"typed_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn) as conn:
        conn.execute(
            f"""CREATE TABLE {name} (id int, big bigint, amount numeric(12,2), label text, ok bool,
                day date, at timestamptz, doc jsonb)"""
        )
        conn.execute(
            f"""INSERT INTO {name}
                SELECT g, g * 10000000000, g * 1.5, 'row ' || g, g % 2 = 0, date '2024-01-01' + g,
                       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour', jsonb_build_object('g', g)
                FROM generate_series(1, 2500) g"""
        )
        conn.execute(f"INSERT INTO {name} VALUES (0, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
        conn.execute(f"INSERT INTO {name} (id, label) VALUES (-1, '')")
    return name


def test_table_reads_in_batches_with_sql_types_mapped_to_arrow(postgres_server, typed_table):
    batches = run_source(PostgresSource(postgres_server.dsn, table=typed_table, batch_size=1000))
    assert [b.num_rows for b in batches] == [1000, 1000, 502]
    table = pa.Table.from_batches(batches)
    assert table.schema.types == [
        pa.int32(), pa.int64(), pa.decimal128(12, 2), pa.string(), pa.bool_(), pa.date32(),
        pa.timestamp("us", tz="UTC"), pa.string(),
    ]
    by_id = {r["id"]: r for r in table.to_pylist()}
    assert by_id[7] == {
        "id": 7, "big": 70_000_000_000, "amount": Decimal("10.50"), "label": "row 7", "ok": False,
        "day": dt.date(2024, 1, 8), "at": dt.datetime(2024, 1, 1, 7, tzinfo=UTC), "doc": '{"g": 7}',
    }
    assert set(by_id[0].values()) == {0, None}
    assert by_id[-1]["label"] == "" and by_id[0]["label"] is None  # empty string is not NULL


def test_query_reads_only_its_rows_and_columns(postgres_server, typed_table):
    source = PostgresSource(
        postgres_server.dsn, query=f"SELECT id, amount * 2 AS twice FROM {typed_table} WHERE id BETWEEN 1 AND 3"
    )
    table = pa.Table.from_batches(run_source(source)).sort_by("id")
    assert table.column_names == ["id", "twice"]
    assert table.column("id").to_pylist() == [1, 2, 3]
    assert table.column("twice").to_pylist() == ["3.00", "6.00", "9.00"]  # unconstrained numeric stays text


def test_columns_limit_a_table_read(postgres_server, typed_table):
    table = pa.Table.from_batches(run_source(PostgresSource(postgres_server.dsn, table=typed_table, columns=["ok"])))
    assert table.column_names == ["ok"] and table.num_rows == 2502


BATCH = pa.record_batch(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "name": ["a", "", None],
        "price": pa.array([Decimal("1.10"), None, Decimal("3.30")], pa.decimal128(10, 2)),
        "seen": pa.array([dt.datetime(2024, 5, 1, 12, tzinfo=UTC)] * 3, pa.timestamp("us", tz="UTC")),
        "flag": [True, False, None],
    }
)


def test_append_creates_the_table_and_round_trips_values(postgres_server):
    table = f"sink_{uuid.uuid4().hex[:8]}"
    sink = PostgresSink(postgres_server.dsn, table)
    run_sink(sink, BATCH, BATCH.slice(0, 1))
    assert sink.rows_written == 4
    assert rows(postgres_server.dsn, f"SELECT id, name, price, seen, flag FROM {table} ORDER BY id, name") == [
        (1, "a", Decimal("1.10"), dt.datetime(2024, 5, 1, 12, tzinfo=UTC), True),
        (1, "a", Decimal("1.10"), dt.datetime(2024, 5, 1, 12, tzinfo=UTC), True),
        (2, "", None, dt.datetime(2024, 5, 1, 12, tzinfo=UTC), False),
        (3, None, Decimal("3.30"), dt.datetime(2024, 5, 1, 12, tzinfo=UTC), None),
    ]


def test_close_with_error_does_not_create_the_table(postgres_server):
    table = f"sink_{uuid.uuid4().hex[:8]}"
    run_sink(PostgresSink(postgres_server.dsn, table), BATCH, error=RuntimeError("boom"))
    assert rows(postgres_server.dsn, f"SELECT count(*) FROM pg_tables WHERE tablename = '{table}'") == [(0,)]


def test_unreachable_server_names_host_and_port(postgres_server):
    from services import free_port

    port = free_port()
    dsn = postgres_server.dsn.replace(f":{postgres_server.port}/", f":{port}/")
    source = PostgresSource(dsn, table="t", name="orders_in")
    with pytest.raises(DatabaseUnreachableError, match=f"processor 'orders_in'.*127.0.0.1:{port}") as info:
        source.open(ProcessorContext(name="orders_in"))
    assert isinstance(info.value, TransientError)


def test_wrong_password_names_user_and_database(postgres_server):
    dsn = postgres_server.dsn.replace(postgres_server.password, "wrong")
    with pytest.raises(DatabaseAuthError, match="postgres@127.0.0.1:[0-9]+/postgres.*password authentication failed"):
        PostgresSink(dsn, "t").open(ProcessorContext(name="x"))


def test_unknown_database_is_a_login_error(postgres_server):
    with pytest.raises(DatabaseAuthError, match='database "nope" does not exist'):
        PostgresSource(postgres_server.dsn_for("nope"), table="t").open(ProcessorContext(name="x"))


def test_unknown_table_and_column_are_named(postgres_server, typed_table):
    with pytest.raises(UnknownObjectError, match='object no_such_table.*relation "no_such_table" does not exist'):
        run_source(PostgresSource(postgres_server.dsn, table="no_such_table"))
    with pytest.raises(UnknownObjectError, match='column "nope" does not exist'):
        run_source(PostgresSource(postgres_server.dsn, table=typed_table, columns=["nope"]))
    with pytest.raises(UnknownObjectError, match="unknown table"):
        run_sink(PostgresSink(postgres_server.dsn, "missing_table", create=False), BATCH)




def test_append_converts_batches_to_the_existing_columns_types(postgres_server):
    """Binary COPY takes each column only in its exact type: int64 into `int`, text into NUMERIC and jsonb still land."""
    table = f"sink_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn) as conn:
        conn.execute(f"CREATE TABLE {table} (id int, amount numeric(12,2), doc jsonb, day date)")
    exact = pa.record_batch({"id": pa.array([1], pa.int64()), "amount": pa.array([Decimal("1.10")], pa.decimal128(12, 2)),
                             "doc": ['{"a": 1}'], "day": pa.array([dt.date(2024, 1, 2)])})
    as_text = pa.record_batch({"id": pa.array([2], pa.int64()), "amount": ["2.505"], "doc": ['{"b": 2}'],
                               "day": ["2024-01-03"]})
    run_sink(PostgresSink(postgres_server.dsn, table, create=False), exact, as_text)
    assert rows(postgres_server.dsn, f"SELECT id, amount, doc, day FROM {table} ORDER BY id") == [
        (1, Decimal("1.10"), {"a": 1}, dt.date(2024, 1, 2)),
        (2, Decimal("2.51"), {"b": 2}, dt.date(2024, 1, 3)),
    ]
