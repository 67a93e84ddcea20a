"""CDC from MariaDB's ROW binlog into an Iceberg table and a search index, against a real server."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import pymysql
import pytest

import services
from towpath.cdc import CdcResult, SchemaChangeError, SlotLostError, load_cdc_spec, run_cdc
from towpath.project import Project
from towpath.search import open_index

_server_ids = itertools.count(100)


class MyCase:
    def __init__(self, server: services.MySqlServer, root: Path, name: str) -> None:
        self.server, self.name = server, name
        self.project = Project.init(root / "proj")
        self.spec = self.project.root / f"{name}.cdc.yaml"
        self.spec.write_text(
            f"name: {name}\nsource: {{type: mysql, dsn: '{server.dsn}', table: {name}, server_id: {next(_server_ids)}}}\n"
            "batch: {max_rows: 400, max_seconds: 0.3}\n"
            f"targets:\n  - {{type: iceberg, table: lake.{name}, partition_by: ['truncate(10, id)']}}\n"
            f"  - {{type: search, index: {name}}}\n")

    def connect(self) -> Any:
        return pymysql.connect(host=self.server.host, port=self.server.port, user=self.server.user,
                               password=self.server.password, database=self.server.dbname, autocommit=True)

    def sql(self, *statements: str) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def run(self, **kwargs: Any) -> CdcResult:
        project = Project(self.project.root)
        return run_cdc(load_cdc_spec(self.spec), catalog=project.catalog, root=project.root, **kwargs)

    def assert_equal(self) -> None:
        with self.connect() as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(f"SELECT * FROM {self.name}")
            source = {row["id"]: row for row in cur.fetchall()}
        lake = {row["id"]: row for row in Project(self.project.root).catalog.read(f"lake.{self.name}").to_pylist()}
        assert lake == source
        docs = open_index(self.project.root, self.name).documents()
        assert {int(k): v["name"] for k, v in docs.items()} == {k: v["name"] for k, v in source.items()}


@pytest.fixture
def my_case(mysql_binlog: services.MySqlServer, tmp_path: Path, request: pytest.FixtureRequest) -> MyCase:
    name = f"my_{request.node.name[5:25]}"
    case = MyCase(mysql_binlog, tmp_path, name)
    case.sql(f"DROP TABLE IF EXISTS {name}",
             f"CREATE TABLE {name} (id INT PRIMARY KEY, name VARCHAR(80) NOT NULL, city VARCHAR(40), "
             "score DECIMAL(8,2), active BOOLEAN, seen DATETIME(6))",
             f"INSERT INTO {name} (id, name, city, score, active) "
             "SELECT seq, CONCAT('patient ', seq), IF(seq % 2, 'Austin', NULL), seq / 4, seq % 3 = 0 "
             "FROM seq_1_to_300")
    return case


def test_snapshot_while_writes_continue_then_stream(my_case: MyCase) -> None:
    stop = threading.Event()

    def write() -> None:
        i = 0
        with my_case.connect() as conn, conn.cursor() as cur:
            while not stop.is_set():
                i += 1
                cur.execute(f"INSERT INTO {my_case.name} (id, name, seen) VALUES ({1000 + i}, 'new {i}', NOW(6))")
                cur.execute(f"UPDATE {my_case.name} SET score = score + 1, name = 'upd {i}' WHERE id = {i % 300 + 1}")
                cur.execute(f"DELETE FROM {my_case.name} WHERE id = {(i * 7) % 300 + 1}")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        assert my_case.run(max_seconds=2).snapshotted
    finally:
        stop.set()
        writer.join()
    assert my_case.run(until_caught_up=True).caught_up
    my_case.assert_equal()


def test_same_key_many_times_in_one_transaction_and_added_column(my_case: MyCase) -> None:
    my_case.run(until_caught_up=True)
    with my_case.connect() as conn, conn.cursor() as cur:
        conn.begin()
        for i in range(200):
            cur.execute(f"UPDATE {my_case.name} SET name = 'v{i}' WHERE id = 1")
        conn.commit()
    my_case.sql(f"ALTER TABLE {my_case.name} ADD COLUMN plan VARCHAR(10)",
                f"UPDATE {my_case.name} SET plan = 'gold' WHERE id = 2")
    result = my_case.run(until_caught_up=True)
    assert result.received == 201
    my_case.assert_equal()
    lake = {r["id"]: r for r in Project(my_case.project.root).catalog.read(f"lake.{my_case.name}").to_pylist()}
    assert lake[2]["plan"] == "gold" and lake[3]["plan"] is None and lake[1]["name"] == "v199"


def test_purged_binlog_is_a_lost_stream_then_resnapshot(my_case: MyCase) -> None:
    result = my_case.run(until_caught_up=True)
    my_case.sql("FLUSH BINARY LOGS", f"DELETE FROM {my_case.name} WHERE id <= 10")
    stopped_in = result.applied_position.split(":")[0]
    with my_case.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        current = cur.fetchone()[0]
        while True:  # a dump thread still closing keeps its file: purge until the server lets it go
            cur.execute(f"PURGE BINARY LOGS TO '{current}'")
            cur.execute("SHOW BINARY LOGS")
            if stopped_in not in {row[0] for row in cur.fetchall()}:
                break
    with pytest.raises(SlotLostError, match="purged") as err:
        my_case.run(until_caught_up=True)
    assert "--resnapshot" in str(err.value)
    assert my_case.run(until_caught_up=True, resnapshot=True).snapshotted
    my_case.assert_equal()


def test_dropped_column_stops_with_the_position(my_case: MyCase) -> None:
    my_case.run(until_caught_up=True)
    my_case.sql(f"ALTER TABLE {my_case.name} DROP COLUMN city", f"UPDATE {my_case.name} SET name = 'x' WHERE id = 1")
    with pytest.raises(SchemaChangeError, match="column city was dropped") as err:
        my_case.run(until_caught_up=True)
    assert "every target is at binlog." in str(err.value)
