"""Job types beyond SQL: python, wait, standalone audit; DAG ordering with depends_on."""

from __future__ import annotations

import threading

import pytest

from towpath.catalog.metadata import set_hwm

DDL = """CREATE TABLE IF NOT EXISTS shop.orders (id INT, amount DOUBLE) PARTITIONED BY (date DATE) STORED AS ICEBERG"""

PY_TRANSFORM = '''
import pyarrow as pa

def build(ctx):
    return pa.table({"id": [1, 2, 3], "amount": [9.5, 20.0, 3.25], "date": pa.array([ctx.execution_date] * 3).cast(pa.date32())})

def via_sql(ctx):
    import duckdb
    rows = ctx.read("shop.orders", where=f"date = DATE '{ctx.execution_date}'")
    return duckdb.sql("SELECT id + 100 AS id, amount * 2 AS amount, date FROM rows")
'''


def test_python_job_writes_its_arrow_result_through_wap(project, write_workflow):
    path = write_workflow(
        """\
id: py
steps:
  - job: {id: ddl, type: sql, sql: "%s"}
  - template:
      id: wap
      type: wap
      tables: [shop.orders]
      write_jobs:
        - job: {id: build, type: python, callable: "transform:build", target: shop.orders}
        - job: {id: more, type: python, callable: "transform.py:via_sql", target: shop.orders, mode: append}
      audits:
        - function: columns_should_be_unique
          params: {columns: [id]}
""" % DDL,
        files={"transform.py": PY_TRANSFORM},
    )

    result = project.run(path, date="2022-03-04")

    assert result.ok, result.error
    rows = project.catalog.read("shop.orders").sort_by("id")
    assert rows["id"].to_pylist() == [1, 2, 3, 101, 102, 103]
    assert rows["amount"].to_pylist() == [9.5, 20.0, 3.25, 19.0, 40.0, 6.5]


def test_wait_job_times_out_with_a_clear_message(project, write_workflow):
    path = write_workflow(
        "id: w\nsteps:\n  - job: {id: ddl, type: sql, sql: \"%s\"}\n"
        "  - job: {id: wait, type: wait, table: shop.orders, timeout: 0.5, poll_interval: 0.1}\n" % DDL
    )

    result = project.run(path, date="2022-03-04")

    assert result.status == "failed"
    assert "timed out" in result.error and "shop.orders" in result.error and "2022-03-04" in result.error


def test_wait_job_starts_when_upstream_hwm_arrives(project, write_workflow):
    from towpath.catalog.ddl import apply_ddl

    apply_ddl(project.catalog, DDL)
    set_hwm(project.catalog, "shop.orders", "2022-03-01")
    path = write_workflow("id: w\nsteps:\n  - job: {id: wait, type: wait, table: shop.orders, timeout: 20, poll_interval: 0.1}\n")
    arrived = threading.Event()

    def arrive() -> None:
        set_hwm(project.catalog, "shop.orders", "2022-03-04")
        arrived.set()

    timer = threading.Timer(0.5, arrive)
    timer.start()
    result = project.run(path, date="2022-03-04")

    assert result.ok and arrived.is_set()  # the job succeeded only once the mark had arrived


def test_standalone_audit_job_fails_the_run_on_main(project, write_workflow):
    path = write_workflow(
        """\
id: a
steps:
  - job: {id: ddl, type: sql, sql: "%s"}
  - job: {id: load, type: sql, sql: "INSERT INTO shop.orders VALUES (1, 5.0, DATE '2022-03-04'), (1, 6.0, DATE '2022-03-04')"}
  - job:
      id: check
      type: audit
      audits:
        - {function: columns_should_be_unique, params: {table: shop.orders, columns: [id]}}
  - job: {id: after, type: hwm, table: shop.orders}
""" % DDL
    )

    result = project.run(path, date="2022-03-04")

    assert result.status == "audit_failed" and result.failed_audits == ["columns_should_be_unique"]
    assert [j.status for j in result.jobs][-1] == "skipped"


def test_depends_on_orders_steps(project, write_workflow):
    path = write_workflow(
        """\
id: dag
steps:
  - job: {id: hwm, type: hwm, table: shop.orders, depends_on: [load]}
  - job: {id: load, type: sql, sql: "INSERT INTO shop.orders VALUES (1, 5.0, DATE '${DATE}')", depends_on: [ddl]}
  - job: {id: ddl, type: sql, sql: "%s", depends_on: []}
""" % DDL
    )

    result = project.run(path, date="2022-03-04")

    assert result.ok, result.error
    assert [j.job_id for j in result.jobs] == ["ddl", "load", "hwm"]


@pytest.mark.parametrize("date", ["2022-13-01", "yesterday"])
def test_bad_execution_date_is_a_clear_error(project, write_workflow, date):
    from towpath.errors import ParameterError

    path = write_workflow("id: x\nsteps:\n  - job: {id: ddl, type: sql, sql: \"%s\"}\n" % DDL)
    with pytest.raises(ParameterError, match="expected a date"):
        project.run(path, date=date)


def test_write_job_parameters_apply_inside_a_wap_template(project, write_workflow):
    path = write_workflow(
        """\
id: params
steps:
  - job: {id: ddl, type: sql, sql: "%s"}
  - template:
      id: wap
      type: wap
      tables: [shop.orders]
      write_jobs:
        - job:
            id: load
            type: sql
            sql: "INSERT INTO shop.orders VALUES (${ORDER_ID}, 1.5, DATE '${DATE}')"
            parameters: {ORDER_ID: "42"}
""" % DDL
    )

    result = project.run(path, date="2022-03-04")

    assert result.ok, result.error
    assert project.catalog.read("shop.orders")["id"].to_pylist() == [42]


def test_a_metadata_step_changes_only_the_fields_it_names(project, write_workflow):
    from towpath.catalog import get_metadata

    path = write_workflow(
        "id: meta\nsteps:\n  - job: {id: ddl, type: sql, sql: \"%s\"}\n"
        "  - job: {id: tag, type: metadata, table: shop.orders, owner: sales, tags: [daily, pii]}\n"
        "  - job: {id: owner, type: metadata, table: shop.orders, owner: finance}\n" % DDL
    )

    assert project.run(path, date="2022-03-01").ok

    meta = get_metadata(project.catalog, "shop.orders")
    assert (meta.owner, meta.tags) == ("finance", ["daily", "pii"])  # the second step left the tags alone
