"""Audits inside a real workflow run read their SQL fragments in the project's dialect (Spark by default)."""

from __future__ import annotations

DDL = "CREATE TABLE IF NOT EXISTS g.t (id INT, cc STRING, date STRING) USING iceberg PARTITIONED BY (date);\n"

WORKFLOW = """\
id: dialects
steps:
  - job: {id: ddl, type: sql, script: ddl.sql}
  - template:
      id: wap
      tables: [g.t]
      write_jobs:
        - job: {id: write, type: sql, sql: "INSERT OVERWRITE g.t VALUES (1, 'US', '${DATE}'), (2, 'CA', '${DATE}')"}
      audits:
        # Spark SQL: backticks quote names and double quotes are strings (in DuckDB, "US" would be a column)
        - function: row_count_between
          params: {min: 1, max: 1, where: '`cc` = "US" AND date = "${DATE}"'}
        - function: custom_sql
          name: canadians
          blocking: false
          params: {sql: 'SELECT `id` FROM g.t WHERE `cc` = "CA"'}
"""


def test_where_and_custom_sql_are_spark_sql_in_a_spark_project(project, write_workflow):
    assert project.config.dialect == "spark"
    path = write_workflow(WORKFLOW, files={"ddl.sql": DDL})

    result = project.run(path, date="2024-01-02")

    assert result.ok, result.error
    [wap] = [j for j in result.jobs if j.job_id == "wap"]
    by_name = {a.name: a for a in wap.audits}
    assert by_name["row_count_between"].passed  # exactly one US row: the Spark `where` was applied as written
    assert (by_name["canadians"].passed, by_name["canadians"].failing_rows) == (False, 1)
    assert by_name["canadians"].sample == [{"id": 2}]
    assert project.catalog.read("g.t").num_rows == 2
