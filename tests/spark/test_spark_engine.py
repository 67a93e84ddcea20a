"""`engine: spark`: the sample on Spark equals DuckDB's, pyspark jobs inside WAP, errors with file:line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from spark_projects import DATES, make_project

from towpath.errors import EngineError
from towpath.project import Project
from towpath.samples import render_recipe

RESULTS = "foo.dataflow_sample_results"
ORDER = [("date", "ascending"), ("country_code", "ascending"), ("title_rank", "ascending"), ("title_id", "ascending")]


def run_sample(project: Project, recipe: str) -> pa.Table:
    """Render `recipe` into the project, run main for every date, and return the published table."""
    folder = render_recipe(recipe, project.root / recipe)
    for date in DATES:
        result = project.run(folder / "main.sch.yaml", date=date)
        assert result.status == "success", result.error
        wap = next(j for j in result.jobs if j.job_type == "wap")
        assert [a.passed for a in wap.audits if a.blocking] == [True, True, True]
    return project.catalog.read(RESULTS).sort_by(ORDER)


def test_spark_sql_sample_on_spark_writes_exactly_what_duckdb_writes(tmp_path: Path, spark_project: Project) -> None:
    on_spark = run_sample(spark_project, "spark-sql")
    on_duckdb = run_sample(make_project(tmp_path / "duckdb", "duckdb"), "spark-sql")
    assert on_spark.num_rows > 2 * 100 * 50  # a full top 100 in more than 50 countries, both days
    assert on_spark.equals(on_duckdb)
    assert sorted({d.isoformat() for d in on_spark.column("date").to_pylist()}) == DATES


def test_pyspark_sample_runs_the_seed_dataframe_code_and_matches_spark_sql(spark_project: Project) -> None:
    from_dataframes = run_sample(spark_project, "pyspark")
    assert spark_project.catalog.table(RESULTS).metadata.refs.keys() == {"main"}  # published, branches dropped
    spark_project.catalog.iceberg.purge_table(RESULTS)
    from_sql = run_sample(spark_project, "spark-sql")
    assert from_dataframes.num_rows > 10_000
    assert from_dataframes.equals(from_sql)


PYSPARK_JOBS = '''\
from pyspark.sql import Window
from pyspark.sql import functions as F


def top_titles(ctx):
    day = F.lit(ctx.execution_date).cast("date")
    views = (ctx.table("some_db.source_table").filter(F.col("date") == day)
             .filter("title_id IS NOT NULL AND view_hours > 0")
             .groupBy("title_id", "country_code").agg(F.round(F.sum("view_hours"), 3).alias("view_hours")))
    ranked = views.withColumn("title_rank", F.rank().over(Window.partitionBy("country_code").orderBy(F.col("view_hours").desc())))
    return ranked.filter(F.col("title_rank") <= 3).withColumn("date", day)


def with_a_null_title(ctx):
    return top_titles(ctx).union(ctx.spark.sql("SELECT NULL AS title_id, 'XX' AS country_code, 1.0 AS view_hours, "
                                              "1 AS title_rank, DATE'%s' AS date" % ctx.execution_date))
'''

WORKFLOW = """\
id: top3
steps:
  - job:
      id: ddl
      type: sql
      sql: |
        CREATE TABLE IF NOT EXISTS some_db.top3 (title_id INT, country_code STRING, view_hours DOUBLE,
          title_rank INT, date DATE) USING iceberg PARTITIONED BY (date)
  - template:
      id: wap
      type: wap
      tables: [some_db.top3]
      write_jobs:
        - job: {id: write, type: pyspark, callable: "jobs.py:%s", target: some_db.top3}
      audits:
        - {function: columns_should_not_have_nulls, blocking: true, params: {table: some_db.top3, columns: [title_id]}}
"""


def pyspark_workflow(project: Project, function: str) -> Path:
    (project.root / "jobs.py").write_text(PYSPARK_JOBS)
    path = project.root / f"{function}.sch.yaml"
    path.write_text(WORKFLOW % function)
    return path


def test_a_pyspark_job_in_wap_writes_its_branch_and_publishes_after_the_audits(spark_project: Project) -> None:
    result = spark_project.run(pyspark_workflow(spark_project, "top_titles"), date="2022-01-02")
    assert result.status == "success", result.error
    write = next(j for j in result.jobs if j.job_id == "wap")
    published = spark_project.catalog.read("some_db.top3")
    assert write.rows_written == published.num_rows and 190 * 3 <= published.num_rows <= 190 * 4  # ties share a rank
    assert set(published.column("date").to_pylist()) == {dt.date(2022, 1, 2)}
    assert spark_project.catalog.table("some_db.top3").metadata.refs.keys() == {"main"}


def test_a_pyspark_job_failing_a_blocking_audit_leaves_main_untouched_and_keeps_its_branch(spark_project: Project) -> None:
    spark_project.run(pyspark_workflow(spark_project, "top_titles"), date="2022-01-01")
    before = spark_project.catalog.snapshot_id("some_db.top3")
    result = spark_project.run(pyspark_workflow(spark_project, "with_a_null_title"), date="2022-01-02")
    wap = next(j for j in result.jobs if j.job_id == "wap")
    assert result.status == "audit_failed" and wap.status == "audit_failed"
    assert spark_project.catalog.snapshot_id("some_db.top3") == before
    branch = wap.details["branch"]
    on_branch = spark_project.catalog.read("some_db.top3", ref=branch)
    assert on_branch.filter(pa.compute.is_null(on_branch.column("title_id"))).num_rows == 1


def test_a_pyspark_job_on_the_duckdb_engine_is_a_clear_error(tmp_path: Path) -> None:
    project = Project.init(tmp_path / "duck")
    result = project.run(pyspark_workflow(project, "top_titles"), date="2022-01-01")
    assert result.status == "failed"
    assert "job 'write': pyspark jobs need `engine: spark` in towpath.yaml (this project's engine is 'duckdb')" in (
        result.error or ""
    )
    assert project.catalog.read("some_db.top3").num_rows == 0  # the DDL ran, nothing was written


def test_ctx_table_on_the_duckdb_engine_raises_the_same_engine_error(tmp_path: Path) -> None:
    from towpath.workflows.context import spark_engine

    project = Project.init(tmp_path / "duck")
    with pytest.raises(EngineError, match="pyspark jobs need `engine: spark`"):
        spark_engine(project.engine, "write")
