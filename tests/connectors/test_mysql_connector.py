"""MySQL/MariaDB source and sink against a real MariaDB (the session `mysql_server`)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pyarrow as pa
import pymysql
import pytest

from towpath.connectors import (
    DatabaseAuthError,
    DatabaseUnreachableError,
    MySqlSink,
    MySqlSource,
    UnknownObjectError,
)
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


def run_source(source: MySqlSource) -> list[pa.RecordBatch]:
    source.open(ProcessorContext(name=source.name))
    try:
        return list(source.read())
    finally:
        source.close(None)


def run_sink(sink: MySqlSink, *batches: pa.RecordBatch, error: BaseException | None = None) -> None:
    sink.open(ProcessorContext(name=sink.name))
    for batch in batches:
        sink.write(batch)
    sink.close(error)


def rows(server, sql: str) -> list[tuple]:
    conn = pymysql.connect(host=server.host, port=server.port, user=server.user, password=server.password,
                           database=server.dbname)
    with conn.cursor() as cur:
        cur.execute(sql)
        out = list(cur.fetchall())
    conn.close()
    return out


def test_written_rows_read_back_in_batches_with_arrow_types(mysql_server):
    table = f"t_{uuid.uuid4().hex[:8]}"
    run_sink(MySqlSink(mysql_server.dsn, table), BATCH, BATCH, BATCH)
    batches = run_source(MySqlSource(mysql_server.dsn, table=table, batch_size=4))
    assert [b.num_rows for b in batches] == [4, 4, 1]
    got = pa.Table.from_batches(batches)
    assert got.schema.types == [pa.int64(), pa.string(), pa.decimal128(10, 2), pa.date32(), pa.timestamp("us"),
                                pa.bool_()]
    assert got.slice(0, 3).to_pylist() == [
        {"id": 1, "name": "a", "price": Decimal("1.10"), "day": dt.date(2024, 5, 1),
         "seen": dt.datetime(2024, 5, 1, 12), "flag": True},  # timestamptz lands as UTC DATETIME(6)
        {"id": 2, "name": "", "price": None, "day": None, "seen": dt.datetime(2024, 5, 1, 12), "flag": False},
        {"id": 3, "name": None, "price": Decimal("3.30"), "day": dt.date(2024, 5, 3),
         "seen": dt.datetime(2024, 5, 1, 12), "flag": None},
    ]
    query = pa.Table.from_batches(run_source(MySqlSource(mysql_server.dsn, query=f"SELECT id * 2 AS twice FROM {table} WHERE id < 3 ORDER BY id LIMIT 2")))
    assert query.column("twice").to_pylist() == [2, 2]


def loads(server) -> int:
    """How many LOAD DATA statements the server has run."""
    return int(rows(server, "SHOW GLOBAL STATUS LIKE 'Com_load'")[0][1])


def test_append_loads_each_batch_as_csv_and_text_survives_exactly(mysql_server):
    table = f"t_{uuid.uuid4().hex[:8]}"
    tricky = ['say "hi", then, leave', "line\nbreak", "back\\slash \\N", "NULL", "", None, "naïve ✓"]
    batch = pa.record_batch({"id": pa.array(range(len(tricky)), pa.int64()), "text": tricky})
    before = loads(mysql_server)
    later = batch.set_column(0, "id", pa.array(range(len(tricky), 2 * len(tricky)), pa.int64()))
    run_sink(MySqlSink(mysql_server.dsn, table), batch, later)
    assert loads(mysql_server) - before == 2  # one LOAD DATA LOCAL INFILE per batch, no row-by-row INSERT
    assert [r[0] for r in rows(mysql_server, f"SELECT text FROM {table} ORDER BY id")] == tricky + tricky


def test_connection_errors_name_the_server_and_login(mysql_server):
    from services import free_port

    port = free_port()
    bad_port = mysql_server.dsn.replace(f":{mysql_server.port}/", f":{port}/")
    with pytest.raises(DatabaseUnreachableError, match=f"processor 'orders'.*127.0.0.1:{port}.*Connection refused"):
        MySqlSource(bad_port, table="t", name="orders").open(ProcessorContext(name="orders"))
    bad_password = mysql_server.dsn.replace(mysql_server.password, "wrong")
    with pytest.raises(DatabaseAuthError, match="root@127.0.0.1:[0-9]+/towpath.*Access denied"):
        MySqlSink(bad_password, "t").open(ProcessorContext(name="x"))
    with pytest.raises(DatabaseAuthError, match="Unknown database 'nodb'"):
        MySqlSink(mysql_server.dsn.replace("/towpath", "/nodb"), "t").open(ProcessorContext(name="x"))


def test_unknown_table_and_column_are_named(mysql_server):
    with pytest.raises(UnknownObjectError, match="object ghost: unknown table.*towpath.ghost' doesn't exist"):
        run_source(MySqlSource(mysql_server.dsn, table="ghost"))
    table = f"t_{uuid.uuid4().hex[:8]}"
    run_sink(MySqlSink(mysql_server.dsn, table), BATCH)
    with pytest.raises(UnknownObjectError, match="Unknown column 'nope'"):
        run_source(MySqlSource(mysql_server.dsn, table=table, columns=["nope"]))
    with pytest.raises(UnknownObjectError, match="Unknown column 'extra'"):
        run_sink(MySqlSink(mysql_server.dsn, table, create=False), BATCH.append_column("extra", pa.array([1, 2, 3])))
