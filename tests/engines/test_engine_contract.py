"""The engine contract: one behaviour suite run on every engine (DuckDB and Spark).

Every test takes the `engine` fixture, parametrised over the engines (Spark shares
one session for the whole test session). Whatever a job's SQL means must not
depend on which engine runs it; what only one engine does lives in its own file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from engine_tables import SOURCE_SCHEMA, TARGET_SCHEMA, by_date, source_rows

from towpath.catalog import Catalog, apply_ddl
from towpath.engines import Engine
from towpath.errors import CatalogError, SchemaMismatchError, SqlError, TableNotFoundError

SEED = """\
WITH STEP_1 AS (SELECT title_id, country_code, SUM(view_hours) AS view_hours FROM some_db.source_table WHERE date = DATE '2022-01-01' AND title_id IS NOT NULL AND view_hours > 0 GROUP BY title_id, country_code),
STEP_2 AS (SELECT title_id, country_code, view_hours, RANK() OVER (PARTITION BY country_code ORDER BY view_hours DESC) AS title_rank FROM STEP_1),
STEP_3 AS (SELECT title_id, country_code, view_hours, title_rank FROM STEP_2 WHERE title_rank <= 100)
SELECT title_id, country_code, title_rank, view_hours, DATE '2022-01-01' AS date FROM STEP_3
"""

DAY1, DAY2 = dt.date(2022, 1, 1), dt.date(2022, 1, 2)


def rows(table: pa.Table, *columns: str) -> list[tuple]:
    data = table.select(list(columns)).to_pylist()
    return sorted((tuple(r[c] for c in columns) for r in data), key=repr)


def test_seed_query_runs_unchanged_and_ties_share_a_rank(engine: Engine, source: str) -> None:
    [result] = engine.run_script(SEED, file=Path("top_titles.sql"))
    assert result.kind == "select" and result.line == 1 and result.rows == 6
    assert rows(result.result, "country_code", "title_id", "title_rank", "view_hours", "date") == sorted(
        [
            ("CA", "a", 2, 3.0, DAY1), ("CA", "b", 1, 4.0, DAY1),
            ("US", "a", 1, 15.0, DAY1), ("US", "b", 2, 7.0, DAY1), ("US", "c", 2, 7.0, DAY1),
            ("US", "d", 4, 1.0, DAY1),
        ],
        key=repr,
    )


def test_a_query_for_one_date_reads_one_file_of_thirty(engine: Engine, catalog: Catalog) -> None:
    catalog.iceberg.create_table("some_db.daily", SOURCE_SCHEMA, partition_spec=by_date(SOURCE_SCHEMA))
    catalog.write("some_db.daily", source_rows(days=30))
    out = engine.query(
        "SELECT country_code, SUM(view_hours) AS h FROM some_db.daily WHERE date = '2022-01-15' GROUP BY 1"
    )
    assert len(engine.scans) == 1
    scan = engine.scans[0]
    assert (len(scan.files), scan.total_files) == (1, 30)
    assert rows(out, "country_code", "h") == [("CA", 107.0), ("US", 30.0)]


def test_an_empty_table_reads_as_no_rows_with_its_columns(engine: Engine, target: str) -> None:
    out = engine.query("SELECT * FROM some_db.target_table")
    assert out.num_rows == 0 and out.column_names == [f.name for f in TARGET_SCHEMA.fields]


def test_registered_arrow_shadows_the_catalog_table(engine: Engine, source: str) -> None:
    engine.register("some_db.source_table", pa.table({"title_id": ["mock"], "date": [DAY1]}))
    out = engine.query("SELECT title_id FROM some_db.source_table WHERE date = DATE '2022-01-01'")
    assert out.column("title_id").to_pylist() == ["mock"]
    assert engine.scans == []


def test_temporary_views_are_read_like_tables_and_pruned(engine: Engine, source: str) -> None:
    results = engine.run_script(
        "CREATE OR REPLACE TEMPORARY VIEW us AS SELECT * FROM some_db.source_table WHERE country_code = 'US';\n"
        "SELECT COUNT(*) AS n FROM us WHERE date = '2022-01-02';"
    )
    assert [r.action for r in results] == ["view", None]
    assert results[1].result.column("n").to_pylist() == [5]


def test_insert_overwrite_replaces_only_the_dates_it_writes(
    engine: Engine, catalog: Catalog, source: str, target: str
) -> None:
    old = pa.table({"title_id": ["x", "y"], "country_code": ["US", "US"], "title_rank": [1, 1],
                    "view_hours": [1.0, 1.0], "date": [DAY1, DAY2]})
    catalog.write(target, old)
    [res] = engine.run_script(f"\nINSERT OVERWRITE TABLE some_db.target_table\n{SEED}", file=Path("job.sql"))
    assert (res.kind, res.line, res.table, res.rows, res.action) == (
        "insert", 2, "some_db.target_table", 6, "dynamic_overwrite")
    assert res.snapshot_id == catalog.snapshot_id(target)
    after = catalog.read(target)
    assert rows(after.filter(pa.compute.equal(after["date"], DAY2)), "title_id") == [("y",)]
    assert sorted(after.filter(pa.compute.equal(after["date"], DAY1))["title_id"].to_pylist()) == [
        "a", "a", "b", "b", "c", "d"]
    again = engine.run_script(f"INSERT OVERWRITE TABLE some_db.target_table {SEED}")
    assert catalog.read(target).num_rows == 7 and again[0].snapshot_id != res.snapshot_id  # idempotent rerun


def test_insert_into_appends_by_position(engine: Engine, catalog: Catalog, target: str) -> None:
    script = (
        "INSERT INTO some_db.target_table VALUES ('t1', 'US', 1, 2.5, DATE '2022-01-01');\n"
        "INSERT INTO some_db.target_table SELECT 't2' AS a, 'CA' AS b, 2 AS c, 3.5 AS d, DATE '2022-01-01' AS e;"
    )
    results = engine.run_script(script)
    assert [(r.action, r.rows) for r in results] == [("append", 1), ("append", 1)]
    assert rows(catalog.read(target), "title_id", "country_code", "title_rank", "view_hours") == [
        ("t1", "US", 1, 2.5), ("t2", "CA", 2, 3.5)]


def test_insert_matches_by_name_when_the_query_has_exactly_the_table_columns(
    engine: Engine, catalog: Catalog, target: str
) -> None:
    engine.run_script(
        "INSERT INTO some_db.target_table SELECT DATE '2022-01-01' AS date, 2.5 AS view_hours, 3 AS title_rank, "
        "'US' AS country_code, 't' AS title_id"
    )
    assert rows(catalog.read(target), "title_id", "country_code", "title_rank", "view_hours", "date") == [
        ("t", "US", 3, 2.5, DAY1)]


def test_insert_with_a_column_list_fills_the_rest_with_nulls(
    engine: Engine, catalog: Catalog, target: str
) -> None:
    engine.run_script("INSERT INTO some_db.target_table (title_id, date) VALUES ('t', DATE '2022-01-03')")
    assert catalog.read(target).to_pylist() == [
        {"title_id": "t", "country_code": None, "title_rank": None, "view_hours": None, "date": dt.date(2022, 1, 3)}]


def test_insert_with_the_wrong_number_of_columns_names_both(engine: Engine, target: str) -> None:
    with pytest.raises(SqlError) as info:
        engine.run_script("SELECT 1;\nINSERT INTO some_db.target_table SELECT 'a', 'b'", file=Path("j.sql"))
    assert info.value.line == 2
    assert "returns 2 columns" in str(info.value) and "fills 5" in str(info.value)


def test_static_partition_clause_adds_the_constant_and_replaces_only_that_partition(
    engine: Engine, catalog: Catalog, source: str, target: str
) -> None:
    catalog.write(target, pa.table({"title_id": ["old1", "old2"], "country_code": ["US", "US"], "title_rank": [1, 1],
                                    "view_hours": [1.0, 1.0], "date": [DAY1, DAY2]}))
    [res] = engine.run_script(
        "INSERT OVERWRITE TABLE some_db.target_table PARTITION (date = '2022-01-02')\n"
        "SELECT title_id, country_code, 1, SUM(view_hours) FROM some_db.source_table\n"
        "WHERE date = '2022-01-02' AND country_code = 'CA' AND title_id IS NOT NULL GROUP BY 1, 2"
    )
    assert res.rows == 3 and res.action == "dynamic_overwrite"
    assert rows(catalog.read(target), "title_id", "date") == sorted(
        [("old1", DAY1), ("a", DAY2), ("b", DAY2), ("e", DAY2)], key=repr)


def test_select_with_a_target_writes_the_result(
    engine: Engine, catalog: Catalog, source: str, target: str
) -> None:
    [res] = engine.run_script(SEED, target="some_db.target_table", mode="append")
    assert (res.kind, res.table, res.rows, res.action, res.result) == ("select", target, 6, "append", None)
    assert catalog.read(target).num_rows == 6


def test_refs_redirect_reads_and_writes_to_a_branch(
    engine: Engine, catalog: Catalog, source: str, target: str
) -> None:
    catalog.write(target, pa.table({"title_id": ["main"], "country_code": ["US"], "title_rank": [1],
                                    "view_hours": [1.0], "date": [DAY1]}))
    tbl = catalog.table(source)
    tbl.manage_snapshots().create_branch(tbl.current_snapshot().snapshot_id, "audit").commit()
    catalog.write(source, source_rows(days=1, start=dt.date(2022, 1, 9)), branch="audit")
    main_target = catalog.snapshot_id(target)
    refs = {source: "audit", target: "audit"}

    read = engine.query("SELECT COUNT(*) AS n FROM some_db.source_table WHERE date = '2022-01-09'", refs=refs)
    assert read.column("n").to_pylist() == [9]
    on_main = engine.query("SELECT COUNT(*) AS n FROM some_db.source_table WHERE date = '2022-01-09'")
    assert on_main.column("n").to_pylist() == [0]

    [res] = engine.run_script(
        "INSERT OVERWRITE some_db.target_table SELECT title_id, country_code, 1, view_hours, date "
        "FROM some_db.source_table WHERE date = '2022-01-09' AND title_id = 'a'",
        refs=refs,
    )
    assert catalog.snapshot_id(target) == main_target  # main untouched
    assert res.snapshot_id == catalog.snapshot_id(target, "audit")
    assert rows(catalog.read(target, ref="audit"), "title_id", "date") == sorted(
        [("main", DAY1), ("a", dt.date(2022, 1, 9)), ("a", dt.date(2022, 1, 9)), ("a", dt.date(2022, 1, 9))],
        key=repr)


def test_create_table_drop_table_use_and_set(engine: Engine, catalog: Catalog) -> None:
    script = (
        "USE some_db;\nSET spark.sql.shuffle.partitions = 4;\n"
        "CREATE TABLE IF NOT EXISTS some_db.new_table (id BIGINT, date DATE) USING iceberg PARTITIONED BY (date);\n"
        "INSERT INTO some_db.new_table VALUES (1, DATE '2022-01-01');\n"
        "SELECT * FROM some_db.new_table;\n"
        "DROP TABLE some_db.new_table;\n"
        "DROP TABLE IF EXISTS some_db.new_table;"
    )
    results = engine.run_script(script)
    assert [(r.kind, r.line, r.action) for r in results] == [
        ("other", 1, "ignored"), ("other", 2, "ignored"), ("ddl", 3, "created"), ("insert", 4, "append"),
        ("select", 5, None), ("ddl", 6, "dropped"), ("ddl", 7, "unchanged")]
    assert results[4].result.to_pylist() == [{"id": 1, "date": DAY1}]
    assert not catalog.exists("some_db.new_table")


def test_syntax_error_on_line_3_of_a_file(engine: Engine, source: str, target: str) -> None:
    with pytest.raises(SqlError) as info:
        engine.run_script(
            "INSERT INTO some_db.target_table SELECT * FROM some_db.source_table;\n\nSELECT FROM WHERE;",
            file=Path("jobs/top.sql"),
        )
    assert str(info.value).startswith("jobs/top.sql:3: syntax error")
    assert engine.scans == [] and engine.catalog.snapshot_id(target) is None  # nothing ran


def test_unknown_column_names_the_file_line_and_the_column(engine: Engine, source: str) -> None:
    with pytest.raises(SqlError) as info:
        engine.run_script("SELECT 1;\nSELECT title, country_code\nFROM some_db.source_table", file=Path("q.sql"))
    assert str(info.value).startswith("q.sql:2: ") and "title" in str(info.value)
    assert "\n" not in str(info.value)  # the engine's headline, not its plan dump or stack


def test_unknown_table_suggests_the_close_name(engine: Engine, source: str) -> None:
    with pytest.raises(TableNotFoundError) as info:  # the catalog's error, not re-wrapped: callers can catch it
        engine.run_script("\n\nSELECT * FROM some_db.source_tabel", file=Path("q.sql"))
    assert str(info.value) == (
        "q.sql:3: Table 'some_db.source_tabel' does not exist. Did you mean 'some_db.source_table'?")


def test_update_and_merge_are_refused_before_anything_runs(engine: Engine, target: str) -> None:
    with pytest.raises(SqlError) as info:
        engine.run_script(
            "INSERT INTO some_db.target_table (title_id) VALUES ('x');\nUPDATE some_db.target_table SET title_rank = 1",
            file=Path("j.sql"),
        )
    assert str(info.value).startswith("j.sql:2: UPDATE statements are not supported")
    assert engine.catalog.snapshot_id(target) is None


def test_an_empty_insert_still_creates_the_branch_it_was_sent_to(
    engine: Engine, catalog: Catalog, source: str, target: str
) -> None:
    refs = {target: "audit"}
    [res] = engine.run_script(
        "INSERT OVERWRITE some_db.target_table SELECT title_id, country_code, 1, view_hours, date "
        "FROM some_db.source_table WHERE date = '2030-01-01'",
        refs=refs,
    )
    assert res.rows == 0 and res.snapshot_id == catalog.snapshot_id(target, "audit")
    assert engine.query("SELECT COUNT(*) AS n FROM some_db.target_table", refs=refs).column("n").to_pylist() == [0]


# -- errors keep their type; a script changes nothing until all of it is known to be valid ---------


def test_an_insert_into_a_missing_table_raises_the_catalogs_error_at_its_line(engine: Engine, source: str) -> None:
    with pytest.raises(TableNotFoundError, match=r"^j.sql:2: Table 'some_db.nope' does not exist"):
        engine.run_script("SELECT 1;\nINSERT INTO some_db.nope SELECT 1", file=Path("j.sql"))


def test_a_ddl_that_conflicts_is_a_schema_mismatch_not_a_sql_error(engine: Engine, target: str) -> None:
    with pytest.raises(SchemaMismatchError, match=r"^d.sql:1: table 'some_db.target_table' already exists"):
        engine.run_script("CREATE TABLE some_db.target_table (x INT) USING iceberg", file=Path("d.sql"))


def test_a_bad_second_ddl_creates_nothing(engine: Engine, catalog: Catalog, target: str) -> None:
    script = ("CREATE TABLE IF NOT EXISTS some_db.first (x INT) USING iceberg;\n"
              "CREATE TABLE IF NOT EXISTS some_db.target_table (title_id BIGINT) USING iceberg;")
    with pytest.raises(CatalogError, match=r"^d.sql:2: table 'some_db.target_table' differs from its DDL"):
        engine.run_script(script, file=Path("d.sql"))
    assert not catalog.exists("some_db.first")


def test_a_script_may_drop_and_recreate_a_table_with_another_schema(engine: Engine, catalog: Catalog) -> None:
    apply_ddl(catalog, "CREATE TABLE some_db.again (x INT) USING iceberg")
    engine.run_script("DROP TABLE some_db.again;\nCREATE TABLE some_db.again (y STRING) USING iceberg;")
    assert [f.name for f in catalog.table("some_db.again").schema().fields] == ["y"]


@pytest.mark.parametrize("script", ["", "  \n-- only a comment\n"])
def test_an_empty_script_is_an_error(engine: Engine, script: str) -> None:
    with pytest.raises(SqlError, match=r"^e.sql:1: the script is empty"):
        engine.run_script(script, file=Path("e.sql"))


def test_to_arrow_takes_what_a_job_may_return(engine: Engine) -> None:
    table = pa.table({"a": [1, 2]})
    assert engine.to_arrow(table.to_reader()).equals(table)
    assert engine.to_arrow(table.to_batches()[0]).equals(table)
