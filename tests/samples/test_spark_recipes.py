"""The Spark side of the recipes, kept to one module and one shared local Spark session:
the pyspark recipe end to end on `engine: spark`, the spark-sql recipe on Spark too, both
equal to the DuckDB result, and the pyspark sample's generated unit test."""

from __future__ import annotations

import pytest
from samples_data import DATE, USER, run_generated_tests, towpath_cli

from towpath.project import Project
from towpath.samples import sample_workflow

ROWS = {"SOURCE_ROWS_PER_DAY": "80000"}
"""Sessions per day: a full top 100 in every country, small enough for local Spark."""

pytestmark = pytest.mark.slow


def ranked(project: Project, table: str):  # type: ignore[no-untyped-def]
    rows = project.query(f"SELECT title_id, country_code, title_rank, view_hours, date FROM {table} WHERE date = DATE '{DATE}'")
    return rows.sort_by([("country_code", "ascending"), ("title_rank", "ascending"), ("title_id", "ascending")])


def test_pyspark_and_spark_sql_run_on_spark_and_match_duckdb(tmp_path, monkeypatch):
    monkeypatch.setenv("TOWPATH_USER", USER)
    pyspark = sample_workflow("pyspark", tmp_path / "spark")
    assert pyspark.project_created
    project = Project(pyspark.target)
    assert project.config.engine.type == "spark"
    result = project.run(pyspark.target / "main.sch.yaml", date=DATE, params=ROWS)
    assert result.ok, result.error
    assert [j.job_id for j in result.jobs] == ["source", "ddl", "metadata", "wap", "hwm"]
    assert {a.name for j in result.jobs for a in j.audits} == {
        "table_should_not_be_empty", "columns_should_not_have_nulls", "columns_should_be_unique",
        "row_count_change_within",
    }
    on_spark = ranked(project, pyspark.tables["target"])
    assert 19_000 <= on_spark.num_rows <= 19_200

    spark_sql = sample_workflow("spark-sql", pyspark.target / "sparksql")  # inside the Spark project
    assert not spark_sql.project_created
    assert project.run(spark_sql.target / "main.sch.yaml", date=DATE, params=ROWS).ok

    duck = sample_workflow("sql", tmp_path / "duck")
    duck_project = Project(duck.target)
    assert duck_project.run(duck.target / "main.sch.yaml", date=DATE, params=ROWS).ok
    reference = ranked(duck_project, duck.tables["target"])
    assert on_spark.equals(reference)
    assert ranked(project, spark_sql.tables["target"]).equals(reference)


def test_the_pyspark_sample_unit_test_passes_on_local_spark(tmp_path, monkeypatch):
    monkeypatch.setenv("TOWPATH_USER", USER)
    folder = sample_workflow("pyspark", tmp_path / "wf").target
    test = (folder / "src" / "test_pyspark_write.py").read_text()
    assert "run_job(" in test and 'engine="spark"' in test and "MockContext" not in test  # the real harness
    out = run_generated_tests(folder)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout


ON_SPARK = """\
import os

from towpath.testing import sandbox


def test_run_job_runs_on_the_engine_project_test_chose():
    assert os.environ["TOWPATH_TEST_ENGINE"] == "spark"
    with sandbox() as project:
        assert project.engine.name == "spark"
"""


def test_the_spark_sql_sample_unit_test_runs_on_spark_with_project_test_engine_spark(tmp_path, monkeypatch):
    monkeypatch.setenv("TOWPATH_USER", USER)
    folder = sample_workflow("spark-sql", tmp_path / "wf").target
    (folder / "src" / "test_on_spark.py").write_text(ON_SPARK)

    out = towpath_cli("project", "test", "--engine", "spark", cwd=folder)

    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 passed" in out.stdout
