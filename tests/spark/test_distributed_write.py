"""`engine: spark` writes from its executors: the driver gets data file paths and statistics, never rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from big_write import PARTS

from towpath.catalog import UnstagedWriteError, write_scope
from towpath.errors import SchemaMismatchError, SqlError
from towpath.project import Project

WORKER = Path(__file__).parent / "big_write.py"
ROWS = 300_000
"""About 10 MB as Arrow, five times the driver's 2 MiB result limit (10M rows: benchmarks/bench_spark_write.py)."""


def run_worker(root: Path, rows: int, max_result_size: str, paths: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(WORKER), str(root), str(rows), max_result_size, paths],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_a_write_the_driver_could_not_collect_is_written_by_the_executors(tmp_path: Path) -> None:
    collect, distributed = run_worker(tmp_path / "big", ROWS, "2m", "collect,distributed")
    assert "bigger than spark.driver.maxResultSize (2.0 MiB)" in collect["error"]  # collecting these rows fails
    assert distributed["rows"] == ROWS, distributed

    catalog = Project(tmp_path / "big").catalog
    table = catalog.table("big.events")
    snapshots = table.snapshots()
    assert len(snapshots) == 1 and snapshots[0].snapshot_id == distributed["snapshot_id"]  # one commit
    assert snapshots[0].summary is not None and snapshots[0].summary["added-records"] == str(ROWS)
    files = catalog.plan_scan("big.events").files
    per_part = duckdb.sql(
        f"SELECT part, count(*), sum(id), count(DISTINCT filename) FROM read_parquet({files!r}, filename=true) "
        "GROUP BY part ORDER BY part"
    ).fetchall()
    assert [(part, count) for part, count, _, _ in per_part] == [(p, ROWS // PARTS) for p in range(PARTS)]
    assert sum(total for _, _, total, _ in per_part) == ROWS * (ROWS - 1) // 2
    assert {f.partition[0] for f in (t.file for t in table.scan().plan_files())} == set(range(PARTS))
    assert all(f"/part={part}/" in path for path in files for part in [_only_part(path)])
    field_ids = [field.metadata[b"PARQUET:field_id"] for field in pq.read_schema(files[0])]
    assert field_ids == [b"1", b"2", b"3", b"4"]
    assert {path.rsplit("/", 2)[0] for path in files} == {table.location().removesuffix("/") + "/data"}


def _only_part(path: str) -> int:
    rows = duckdb.sql(f"SELECT DISTINCT part FROM read_parquet('{path}')").fetchall()
    assert len(rows) == 1, f"{path} holds several partitions"
    return int(rows[0][0])


DDL = """CREATE TABLE IF NOT EXISTS some_db.daily (title_id INT NOT NULL, views BIGINT, label STRING, date DATE)
USING iceberg PARTITIONED BY (date)"""


def test_insert_overwrite_replaces_only_its_partitions_in_one_snapshot(spark_project: Project) -> None:
    engine = spark_project.engine
    engine.run_script(DDL)
    engine.run_script(
        "INSERT INTO some_db.daily SELECT CAST(id AS INT), id * 10, 'first', DATE'2022-01-01' + CAST(id % 2 AS INT) "
        "FROM range(6)"
    )
    before = len(spark_project.catalog.table("some_db.daily").snapshots())
    # A static partition value, columns by name in another order, a BIGINT into the INT column (cast in Spark).
    result = engine.run_script(
        "INSERT OVERWRITE some_db.daily PARTITION (date = '2022-01-02') "
        "SELECT 'second' AS label, 7 AS views, CAST(42 AS BIGINT) AS title_id"
    )[-1]
    assert result.rows == 1 and result.action == "dynamic_overwrite"
    table = spark_project.catalog.table("some_db.daily")
    assert len(table.snapshots()) == before + 1 and table.current_snapshot().summary.operation.value == "overwrite"
    rows = spark_project.catalog.read("some_db.daily").sort_by([("date", "ascending"), ("title_id", "ascending")])
    assert rows.to_pylist() == [
        {"title_id": 0, "views": 0, "label": "first", "date": _date(1)},
        {"title_id": 2, "views": 20, "label": "first", "date": _date(1)},
        {"title_id": 4, "views": 40, "label": "first", "date": _date(1)},
        {"title_id": 42, "views": 7, "label": "second", "date": _date(2)},
    ]


def test_a_failing_distributed_write_commits_nothing_and_leaves_no_files(spark_project: Project) -> None:
    engine = spark_project.engine
    engine.run_script(DDL)
    data = Path(spark_project.catalog.table("some_db.daily").location().removeprefix("file://")) / "data"
    with pytest.raises(SchemaMismatchError, match="required column 'title_id' has 1 nulls"):
        engine.run_script("INSERT INTO some_db.daily SELECT CAST(NULL AS INT), 1, 'x', DATE'2022-01-01' FROM range(3) "
                          "WHERE id = 0 UNION ALL SELECT 5, 1, 'x', DATE'2022-01-02'")
    with pytest.raises(SchemaMismatchError, match=r"columns \['nope'\] are not in the table"):
        engine.run_script("INSERT INTO some_db.daily (title_id, nope) SELECT 1, 2")
    with pytest.raises(SqlError, match="INSERT into some_db.daily: the query returns 2 columns") as err:
        engine.run_script("\n\nINSERT INTO some_db.daily SELECT 1, 2", file="jobs/bad.sql")
    assert err.value.line == 3
    with write_scope("WAP template 'wap'", {"some_db.daily": "audit_1"}), pytest.raises(UnstagedWriteError):
        engine.run_script("INSERT INTO some_db.daily SELECT 1, 2, 'x', DATE'2022-01-01'")
    assert spark_project.catalog.table("some_db.daily").snapshots() == []
    assert not data.exists() or not any(data.rglob("*.parquet"))


def _date(day: int) -> Any:
    import datetime as dt

    return dt.date(2022, 1, day)
