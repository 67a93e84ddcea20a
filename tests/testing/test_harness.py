"""run_job: one SQL script or Python transform on mock tables, in an isolated throwaway project."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from towpath.errors import SqlError, TableNotFoundError
from towpath.samples.recipe import TEMPLATES
from towpath.testing import MockError, assert_rows_equal, load_mock, run_job

DATA = Path(__file__).parent / "data" / "topn"
TOPN_SQL = TEMPLATES / "spark-sql" / "src" / "sparksql_write.sql"
"""The spark-sql recipe's transform itself: the harness is tested on the SQL users get."""
SOURCE = "src/mocks/some_db.source_table.yaml"
EXPECTED = "src/mocks/foo.dataflow_sample_results.yaml"
PARAMS = {
    "DATE": "2022-01-01",
    "TARGET_DB": "foo",
    "TARGET_TABLE": "dataflow_sample_results",
    "SOURCE_TABLE": "some_db.source_table",
}


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_spark_sql_insert_overwrite_returns_what_it_wrote_typed_like_the_expected_mock() -> None:
    out = run_job(TOPN_SQL, mocks=[SOURCE], params=PARAMS, base=DATA, target=EXPECTED)
    assert out.schema.field("title_rank").type == pa.int32()  # RANK() is a bigint; the table column is an int
    assert_rows_equal(out, DATA / EXPECTED)


def test_insert_into_a_table_without_mock_takes_the_query_schema() -> None:
    out = run_job(TOPN_SQL, mocks=[SOURCE], params=PARAMS, base=DATA)
    assert out.num_rows == 5
    assert out.schema.field("title_rank").type == pa.int64()  # what the query returns, no table to cast to
    assert sorted(out.column("view_hours").to_pylist()) == [0.25, 0.75, 1.0, 3.5, 3.5]


def test_a_bare_select_returns_its_rows(tmp_path: Path) -> None:
    write(tmp_path, {"q.sql": "SELECT country_code, COUNT(*) AS n FROM ${SOURCE_TABLE} WHERE date = '${DATE}' "
                              "GROUP BY country_code"})
    out = run_job("q.sql", mocks=[DATA / SOURCE], params=PARAMS, base=tmp_path)
    assert dict(zip(out["country_code"].to_pylist(), out["n"].to_pylist(), strict=True)) == {"US": 7, "BR": 2}


def test_a_bare_select_with_a_target_is_written_like_a_workflow_target(tmp_path: Path) -> None:
    write(tmp_path, {
        "q.sql": "SELECT country_code, COUNT(*) AS n FROM some_db.source_table GROUP BY 1",
        "out.yaml": "table: foo.counts\ncolumns:\n  - {name: country_code, type: string}\n  - {name: n, type: int}\n"
                    "rows:\n  - [US, 8]\n  - [BR, 2]\n",
    })
    out = run_job("q.sql", mocks=[DATA / SOURCE], base=tmp_path, target="out.yaml")
    assert out.schema.field("n").type == pa.int32()
    assert_rows_equal(out, tmp_path / "out.yaml")


def test_insert_into_appends_to_the_mock_of_its_target(tmp_path: Path) -> None:
    write(tmp_path, {
        "append.sql": "INSERT INTO foo.log SELECT 2 AS id",
        "foo.log.yaml": "table: foo.log\ncolumns:\n  - {name: id, type: long}\nrows:\n  - [1]\n",
    })
    out = run_job("append.sql", mocks=["foo.log.yaml"], base=tmp_path)
    assert sorted(out["id"].to_pylist()) == [1, 2]


PYTHON_JOB = '''
import polars as pl


def transform(ctx):
    rows = ctx.read(ctx.params["SOURCE_TABLE"], where=f"date = DATE '{ctx.params['DATE']}' AND view_hours > 0")
    frame = pl.from_arrow(rows).drop_nulls("title_id")
    return (frame.group_by("title_id", "country_code").agg(pl.col("view_hours").sum().round(3))
            .with_columns(pl.col("view_hours").rank("min", descending=True).over("country_code").alias("title_rank"),
                          pl.lit(ctx.execution_date).str.to_date().alias("date"))
            .filter(pl.col("title_rank") <= 100)
            .select("title_id", "country_code", "title_rank", "view_hours", "date"))


def with_sql(ctx):
    return ctx.sql("SELECT COUNT(*) AS n FROM some_db.source_table WHERE date = DATE '${DATE}'".replace(
        "${DATE}", ctx.params["DATE"]))
'''


def test_a_python_transform_reads_the_mocks_and_is_cast_to_the_target(tmp_path: Path) -> None:
    write(tmp_path, {"src/python_write.py": PYTHON_JOB})
    out = run_job("src/python_write.py:transform", mocks=[DATA / SOURCE], params=PARAMS, base=tmp_path,
                  target=DATA / EXPECTED)
    assert out.schema.field("title_rank").type == pa.int32()
    assert_rows_equal(out, DATA / EXPECTED)


def test_a_python_transform_without_target_returns_its_result_as_arrow(tmp_path: Path) -> None:
    write(tmp_path, {"src/python_write.py": PYTHON_JOB})
    out = run_job("src/python_write.py:with_sql", mocks=[DATA / SOURCE], params=PARAMS, base=tmp_path)
    assert isinstance(out, pa.Table) and out["n"].to_pylist() == [9]


def test_python_callables_may_return_duckdb_relations() -> None:
    def transform(ctx: object) -> duckdb.DuckDBPyRelation:
        return duckdb.sql("SELECT 1 AS one")

    assert run_job(transform).to_pylist() == [{"one": 1}]
    assert run_job(lambda ctx: pl.DataFrame({"a": [1]})).to_pylist() == [{"a": 1}]


def test_builtin_parameters_come_from_date(tmp_path: Path) -> None:
    write(tmp_path, {"q.sql": "SELECT '${EXECUTION_DATE}' AS d, '${DATE_NODASH}' AS nodash"})
    assert run_job("q.sql", params={"DATE": "2022-03-04"}, base=tmp_path).to_pylist() == [
        {"d": "2022-03-04", "nodash": "20220304"}
    ]


def test_every_run_is_isolated(tmp_path: Path) -> None:
    run_job(TOPN_SQL, mocks=[SOURCE], params=PARAMS, base=DATA, target=EXPECTED)
    write(tmp_path, {"q.sql": "SELECT * FROM foo.dataflow_sample_results"})
    with pytest.raises(TableNotFoundError, match="q.sql:1: Table 'foo.dataflow_sample_results' does not exist"):
        run_job("q.sql", base=tmp_path)


def test_a_mock_missing_a_column_the_query_needs_names_the_mock_and_its_columns(tmp_path: Path) -> None:
    write(tmp_path, {
        "src/mocks/some_db.source_table.yaml": "table: some_db.source_table\ncolumns:\n"
        "  - {name: title_id, type: int}\n  - {name: country_code, type: string}\n  - {name: date, type: date}\n"
        "rows:\n  - [1, US, 2022-01-01]\n",
        "src/job.sql": TOPN_SQL.read_text(),
    })
    with pytest.raises(SqlError) as info:
        run_job("src/job.sql", mocks=[SOURCE], params=PARAMS, base=tmp_path, target=DATA / EXPECTED)
    message = str(info.value)
    assert "view_hours" in message
    assert f"{tmp_path / SOURCE} (some_db.source_table) declares title_id, country_code, date" in message


def test_a_bad_mock_fails_before_anything_runs(tmp_path: Path) -> None:
    write(tmp_path, {"bad.yaml": "table: some_db.t\ncolumns:\n  - {name: n, type: int}\nrows:\n  - [one]\n"})
    with pytest.raises(MockError, match=r"bad.yaml:5:6: rows\[0\].n: expected an integer, got 'one'"):
        run_job("q.sql", mocks=["bad.yaml"], base=tmp_path)


def test_a_script_with_a_syntax_error_names_its_line(tmp_path: Path) -> None:
    write(tmp_path, {"q.sql": "SELECT 1\n\nSELECT FROM WHERE"})
    with pytest.raises(SqlError, match=r"q.sql:\d+: syntax error"):
        run_job("q.sql", base=tmp_path)


def test_the_sample_mocks_load() -> None:
    assert load_mock(DATA / SOURCE).data.num_rows == 10


def test_the_engine_comes_from_the_argument_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from towpath.testing.harness import test_engine

    monkeypatch.delenv("TOWPATH_TEST_ENGINE", raising=False)
    assert test_engine().type == "duckdb"
    monkeypatch.setenv("TOWPATH_TEST_ENGINE", "spark")
    assert (test_engine().type, test_engine("duckdb").type) == ("spark", "duckdb")


def test_a_pyspark_transform_without_target_comes_back_as_arrow(spark: object) -> None:
    def transform(ctx):  # type: ignore[no-untyped-def]
        return ctx.spark.createDataFrame([(1, "a")], "n INT, s STRING")

    out = run_job(transform, engine="spark")
    assert out.to_pylist() == [{"n": 1, "s": "a"}]
