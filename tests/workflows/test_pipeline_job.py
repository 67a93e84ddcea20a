"""`pipeline` jobs: a Postgres table -> Validate -> Iceberg table, declared in YAML, inside a WAP."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from towpath.catalog import list_branches
from towpath.errors import SpecError

DDL = "CREATE TABLE IF NOT EXISTS sales.orders (id INT, amount DOUBLE, day STRING) USING iceberg PARTITIONED BY (day);\n"

WORKFLOW = """\
id: orders
steps:
  - job: {id: ddl, type: sql, script: ddl.sql}
  - template:
      id: wap
      tables: [sales.orders]
      write_jobs:
        - job:
            id: load
            type: pipeline
            source: {type: postgres, dsn: "${PG_DSN}", query: "SELECT id, amount, day FROM %s WHERE day = '${DATE}'"}
            transforms:
              - {type: validate, required: [id], ranges: {amount: {min: 0}}}
            sink: {type: iceberg, table: sales.orders, mode: dynamic_overwrite}
            errors: {type: jsonl, path: "rejected/${DATE}.jsonl"}
      audits:
        - function: columns_should_be_unique
          params: {columns: [id], where: "day = '${DATE}'"}
"""


@pytest.fixture
def orders(postgres_server) -> str:
    """A Postgres table: 2024-01-02 has two good rows and two Validate rejects; 2024-01-03 a duplicate id."""
    name = f"orders_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn) as conn:
        conn.execute(f"CREATE TABLE {name} (id int, amount double precision, day text)")
        conn.execute(
            f"""INSERT INTO {name} VALUES (1, 10.5, '2024-01-02'), (2, -5, '2024-01-02'), (NULL, 3, '2024-01-02'),
                (3, 7, '2024-01-02'), (4, 1, '2024-01-03'), (4, 2, '2024-01-03')"""
        )
    return name


def test_postgres_validate_iceberg_inside_a_wap_publishes_the_valid_rows(project, write_workflow, orders,
                                                                        postgres_server):
    path = write_workflow(WORKFLOW % orders, files={"ddl.sql": DDL})

    result = project.run(path, date="2024-01-02", params={"PG_DSN": postgres_server.dsn})

    assert result.ok, result.error
    published = project.catalog.read("sales.orders").sort_by("id").to_pylist()
    assert published == [{"id": 1, "amount": 10.5, "day": "2024-01-02"}, {"id": 3, "amount": 7.0, "day": "2024-01-02"}]
    rejected = [json.loads(line) for line in (project.root / "rejected" / "2024-01-02.jsonl").read_text().splitlines()]
    assert sorted(json.loads(r["row"])["amount"] for r in rejected) == [-5.0, 3.0]
    assert {r["processor"] for r in rejected} == {"validate"}


def test_a_blocking_audit_failure_publishes_nothing_and_the_rows_stay_on_the_branch(project, write_workflow, orders,
                                                                                    postgres_server):
    path = write_workflow(WORKFLOW % orders, files={"ddl.sql": DDL})
    assert project.run(path, date="2024-01-02", params={"PG_DSN": postgres_server.dsn}).ok
    before = project.catalog.snapshot_id("sales.orders")

    result = project.run(path, date="2024-01-03", params={"PG_DSN": postgres_server.dsn})

    assert result.status == "audit_failed" and result.failed_audits == ["columns_should_be_unique"]
    assert project.catalog.snapshot_id("sales.orders") == before
    assert "2024-01-03" not in project.catalog.read("sales.orders").column("day").to_pylist()
    [branch] = [b for b in list_branches(project.catalog, "sales.orders") if b != "main"]
    on_branch = project.catalog.read("sales.orders", ref=branch).to_pylist()
    assert sorted(r["amount"] for r in on_branch if r["day"] == "2024-01-03") == [1.0, 2.0]  # the sink wrote the branch


def test_a_pipeline_sink_outside_the_catalog_is_refused_inside_a_wap(project, write_workflow, orders):
    text = (WORKFLOW % orders).replace("sink: {type: iceberg, table: sales.orders, mode: dynamic_overwrite}",
                                       'sink: {type: parquet, path: "out/${DATE}.parquet"}')
    path = write_workflow(text, files={"ddl.sql": DDL})

    with pytest.raises(SpecError, match=r"wf\.sch\.yaml:14:\d+: steps\[1\]\.template\.write_jobs\[0\]\.job\.sink: "
                                        r"write job 'load' writes parquet:out/2024-01-02\.parquet"):
        project.run(path, date="2024-01-02", params={"PG_DSN": "postgresql://unused"})


def test_a_misspelled_connector_field_is_reported_at_its_line_with_the_closest_name(project, write_workflow, orders):
    path = write_workflow((WORKFLOW % orders).replace("table: sales.orders, mode", "tabel: sales.orders, mode"),
                          files={"ddl.sql": DDL})

    with pytest.raises(SpecError, match=r"wf\.sch\.yaml:14:\d+: .*sink\.tabel: unknown field 'tabel'; "
                                        r"did you mean 'table'"):
        project.run(path, date="2024-01-02", params={"PG_DSN": "postgresql://unused"})
