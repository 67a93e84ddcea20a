"""What only the DuckDB engine does (the behaviour every engine shares is in test_engine_contract.py):
DuckDB-dialect scripts, DuckDB relations, pruning details, threads, the engine registry."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from engine_tables import SOURCE_SCHEMA, by_date, source_rows

from towpath.catalog import Catalog
from towpath.config.project import EngineConfig
from towpath.engines import get_engine
from towpath.engines.duckdb import DuckDBEngine
from towpath.errors import SqlError, UnknownNameError

DAY1, DAY2 = dt.date(2022, 1, 1), dt.date(2022, 1, 2)


def rows(table: pa.Table, *columns: str) -> list[tuple]:
    data = table.select(list(columns)).to_pylist()
    return sorted((tuple(r[c] for c in columns) for r in data), key=repr)


@pytest.fixture
def engine(duckdb_engine: DuckDBEngine) -> DuckDBEngine:
    """This file is about DuckDB only (the folder's `engine` runs every engine)."""
    return duckdb_engine


@pytest.mark.parametrize(
    "where, files",
    [
        ("date BETWEEN '2022-01-03' AND DATE '2022-01-05'", 3),
        ("date IN ('2022-01-01', '2022-01-30')", 2),
        ("d.date >= '2022-01-28'", 3),
        ("'2022-01-03' > date", 2),
        ("date = '2022-01-02' OR view_hours > 0", 30),  # an OR is not a conjunct: nothing pushed
        ("date IS NULL", 0),
    ],
)
def test_pushed_down_predicates(engine: DuckDBEngine, catalog: Catalog, where: str, files: int) -> None:
    catalog.iceberg.create_table("some_db.daily", SOURCE_SCHEMA, partition_spec=by_date(SOURCE_SCHEMA))
    catalog.write("some_db.daily", source_rows(days=30))
    expected = engine.query(f"SELECT COUNT(*) AS n FROM some_db.daily d WHERE ({where}) OR FALSE")  # not pushed
    engine.reset_scans()
    got = engine.query(f"SELECT COUNT(*) AS n FROM some_db.daily d WHERE {where}")
    assert len(engine.scans[0].files) == files
    assert got.equals(expected)


def test_where_on_the_nullable_side_of_a_left_join_is_not_pushed(engine: DuckDBEngine, catalog: Catalog) -> None:
    catalog.iceberg.create_table("some_db.daily", SOURCE_SCHEMA, partition_spec=by_date(SOURCE_SCHEMA))
    catalog.write("some_db.daily", source_rows(days=3))
    engine.register("some_db.titles", pa.table({"title_id": ["a", "z"]}))
    out = engine.query(
        "SELECT t.title_id, d.date FROM some_db.titles t LEFT JOIN some_db.daily d "
        "ON t.title_id = d.title_id AND d.country_code = 'US' WHERE d.date IS NULL OR d.date = '2022-01-02'"
    )
    assert engine.scans[0].files and len(engine.scans[0].files) == 3
    assert rows(out, "title_id", "date") == [("a", DAY2), ("a", DAY2), ("z", None)]


def test_duckdb_dialect_scripts_run_as_written(engine: DuckDBEngine, source: str) -> None:
    [res] = engine.run_script(
        "SELECT country_code, list(DISTINCT title_id ORDER BY title_id) AS titles "
        "FROM some_db.source_table WHERE date = '2022-01-02' AND title_id IS NOT NULL GROUP BY ALL ORDER BY ALL",
        dialect="duckdb",
    )
    assert res.result.to_pylist() == [
        {"country_code": "CA", "titles": ["a", "b", "e"]},
        {"country_code": "US", "titles": ["a", "b", "c", "d"]},
    ]


def test_queries_from_several_threads(engine: DuckDBEngine, source: str) -> None:
    engine.register("lookup", pa.table({"country_code": ["US", "CA"], "name": ["United States", "Canada"]}))
    sql = (
        "SELECT l.name, COUNT(*) AS n FROM some_db.source_table s JOIN lookup l "
        "ON s.country_code = l.country_code GROUP BY l.name ORDER BY l.name"
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: engine.query(sql), range(20)))
    assert all(r.to_pylist() == [{"name": "Canada", "n": 8}, {"name": "United States", "n": 10}] for r in results)
    assert len(engine.scans) == 20


def test_write_accepts_arrow_polars_and_duckdb_relations(
    engine: DuckDBEngine, catalog: Catalog, target: str
) -> None:
    base = {"title_id": ["t"], "country_code": ["US"], "title_rank": [1], "view_hours": [1.0], "date": [DAY1]}
    engine.write(target, pa.table(base), mode="append")
    engine.write(target, pl.DataFrame(base), mode="append")
    relation = duckdb.sql("SELECT 't' AS title_id, 'US' AS country_code, 1 AS title_rank, 1.0 AS view_hours, "
                          "DATE '2022-01-01' AS date")
    res = engine.write(target, relation, mode="append")
    assert (res.table, res.rows, res.action) == (target, 1, "append")
    assert catalog.read(target).num_rows == 3


def test_conversion_errors_are_sql_errors(engine: DuckDBEngine) -> None:
    with pytest.raises(SqlError, match=r"^q.sql:1: Conversion Error"):
        engine.run_script("SELECT CAST('x' AS INT) AS n", file=Path("q.sql"), dialect="duckdb")


def test_unknown_engine_name_suggests_duckdb(catalog: Catalog) -> None:
    with pytest.raises(UnknownNameError, match="Unknown engine 'duckd'. Did you mean 'duckdb'?"):
        get_engine(EngineConfig(type="duckd"), catalog)


def test_an_engine_plugin_is_found_through_its_entry_point(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "towpath_test_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "towpath_test_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: towpath-test-plugin\nVersion: 1.0\n")
    (site / "towpath_test_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[towpath.engines]\nquack = towpath_test_plugin:make\n")
    (site / "towpath_test_plugin.py").write_text(
        "from towpath.engines.duckdb import DuckDBEngine\n"
        "class Quack(DuckDBEngine):\n    name = 'quack'\n"
        "def make(config, catalog):\n    return Quack(config, catalog)\n")
    monkeypatch.syspath_prepend(str(site))
    engine = get_engine(EngineConfig(type="quack"), catalog)
    try:
        assert engine.name == "quack"
        assert engine.query("SELECT 1 + 1 AS two").column("two").to_pylist() == [2]
    finally:
        engine.close()
    with pytest.raises(UnknownNameError, match="Did you mean 'quack'"):
        get_engine(EngineConfig(type="quak"), catalog)


def test_a_null_check_reads_only_the_files_whose_statistics_count_nulls(engine: DuckDBEngine, catalog: Catalog) -> None:
    """`a IS NULL OR b IS NULL` (an audit's) prunes by each file's null counts: a clean day is not read."""
    catalog.iceberg.create_table("some_db.daily", SOURCE_SCHEMA, partition_spec=by_date(SOURCE_SCHEMA))
    day2 = source_rows(days=1, start=DAY2)
    clean = day2.filter(pc.is_valid(day2.column("title_id")))
    catalog.write("some_db.daily", source_rows(days=1, start=DAY1))  # one NULL title_id
    catalog.write("some_db.daily", clean, "append")
    nulls = "SELECT COUNT(*) AS n FROM some_db.daily WHERE date = '{}' AND (title_id IS NULL OR country_code IS NULL)"
    assert engine.query(nulls.format(DAY2)).column("n").to_pylist() == [0]
    assert engine.scans[-1].files == []
    assert engine.query(nulls.format(DAY1)).column("n").to_pylist() == [1]
    assert len(engine.scans[-1].files) == 1


def test_a_scan_with_no_file_left_is_an_empty_relation_of_the_tables_types(
    engine: DuckDBEngine, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog.iceberg.create_table("some_db.daily", SOURCE_SCHEMA, partition_spec=by_date(SOURCE_SCHEMA))
    catalog.write("some_db.daily", source_rows(days=1, start=DAY1))
    registered: list[str] = []
    monkeypatch.setattr(duckdb.DuckDBPyConnection, "register", lambda self, name, data: registered.append(name))
    every = engine.query("SELECT * FROM some_db.daily WHERE date >= '2022-01-01'")
    none = engine.query("SELECT * FROM some_db.daily WHERE date = '2030-01-01'")
    assert engine.scans[-1].files == [] and none.num_rows == 0
    assert none.schema.types == every.schema.types and none.schema.names == every.schema.names
    assert registered == []  # in the SQL: nothing registered for the query
