"""Write-Audit-Publish through the publisher: several tables publish together or not at all, conflicts retry
cleanly, writes outside the staged tables are refused, and an empty write publishes nothing."""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from towpath.catalog import Catalog, get_hwm, list_branches
from towpath.project import Project
from towpath.status import Status

DDL = (
    "CREATE TABLE IF NOT EXISTS shop.orders (id INT, amount DOUBLE) PARTITIONED BY (date DATE) STORED AS ICEBERG; "
    "CREATE TABLE IF NOT EXISTS shop.items (id INT, sku STRING) PARTITIONED BY (date DATE) STORED AS ICEBERG"
)

TWO_TABLES = """\
id: shop
steps:
  - job: {id: ddl, type: sql, sql: "%s"}
  - template:
      id: wap
      type: wap
      tables: [shop.orders, shop.items]
      max_attempts: %d
      write_jobs:
        - job: {id: orders, type: sql, mode: append, target: shop.orders,
                sql: "SELECT 1 AS id, 9.5 AS amount, DATE '${DATE}' AS date UNION ALL SELECT 2, 20.0, DATE '${DATE}'"}
        - job: {id: items, type: sql, mode: append, target: shop.items,
                sql: "SELECT 1 AS id, 'a' AS sku, DATE '${DATE}' AS date"}
      audits:
        - function: table_should_not_be_empty
          params: {table: shop.orders}
  - job: {id: hwm, type: hwm, table: shop.orders}
"""


def two_tables(write_workflow: Callable[..., Path], max_attempts: int = 3) -> Path:
    return write_workflow(TWO_TABLES % (DDL, max_attempts))


class _MainMovesBeforePublish(Catalog):
    """A real catalog where another writer appends to `shop.items` right after a publish loads it.

    That is the race window between the write jobs and the publish: the publish
    sees `main` where the branch was cut, and `main` moves before it commits.
    `times` publishes are raced (each one retried inside the catalog counts once).
    """

    def __init__(self, catalog: Catalog, times: int) -> None:
        super().__init__(catalog.iceberg)
        self.other, self.times = Catalog(catalog.iceberg), times

    def table(self, identifier: str, *, write: bool = False):  # type: ignore[no-untyped-def]
        loaded = super().table(identifier, write=write)
        publishing = any(frame.function.startswith("publish_branch") for frame in inspect.stack()[1:8])
        if identifier.endswith("items") and publishing and self.times:
            self.times -= 1
            row = pa.table({"id": [99], "sku": ["other"], "date": pa.array([None], pa.date32())})
            self.other.write("shop.items", row, "append")
        return loaded


def racing(project: Project, times: int) -> Project:
    project.__dict__["catalog"] = _MainMovesBeforePublish(project.catalog, times)
    return project


def test_a_conflict_on_the_second_table_republishes_nothing_twice(project, write_workflow):
    """Before the publisher, table 1 was published, table 2 conflicted, and the retry appended table 1 again."""
    path = two_tables(write_workflow)
    assert project.run(path, date="2022-03-01").ok  # tables exist, first day published
    racing(project, times=1)

    result = project.run(path, date="2022-03-02")

    assert result.ok, result.error
    wap = next(j for j in result.jobs if j.job_id == "wap")
    assert wap.details["attempt"] == 2
    orders = project.catalog.read("shop.orders")
    assert sorted(d.isoformat() for d in orders["date"].to_pylist()) == ["2022-03-01"] * 2 + ["2022-03-02"] * 2
    items = project.catalog.read("shop.items")
    assert sorted(items["id"].to_pylist()) == [1, 1, 99]  # the other writer's row survived, ours landed once
    assert [b for b in list_branches(project.catalog, "shop.orders") if b != "main"] == []
    detail = project.state.get_run(result.run_id)
    writes = [(j.job_id, j.attempt) for j in detail.jobs if j.parent_job is not None]
    assert writes == [("wap.orders", 1), ("wap.items", 1), ("wap.orders", 2), ("wap.items", 2)]
    assert [(a.result.name, a.attempt) for a in detail.audits] == [
        ("table_should_not_be_empty", 1), ("table_should_not_be_empty", 2)]


def test_a_run_commits_each_table_twice_its_first_write_cutting_the_branch(project, write_workflow):
    """Write and publish; the branch is cut by the write's own commit, not a commit of its own before it."""
    path = two_tables(write_workflow)
    assert project.run(path, date="2022-03-01").ok
    before = len(project.catalog.table("shop.items").metadata.metadata_log)

    assert project.run(path, date="2022-03-02").ok

    items = project.catalog.table("shop.items")
    assert len(items.metadata.metadata_log) == before + 2
    published = items.current_snapshot()
    assert published.parent_snapshot_id is not None and items.snapshot_by_id(published.parent_snapshot_id)
    assert project.catalog.read("shop.items").num_rows == 2


def test_max_attempts_exhausted_publishes_nothing_and_says_why(project, write_workflow):
    path = two_tables(write_workflow, max_attempts=2)
    assert project.run(path, date="2022-03-01").ok
    before = {t: project.catalog.snapshot_id(t) for t in ("shop.orders",)}
    racing(project, times=100)

    result = project.run(path, date="2022-03-02")

    assert result.status == Status.FAILED
    assert "could not publish after 2 attempts because other writers kept moving main" in (result.error or "")
    assert project.catalog.snapshot_id("shop.orders") == before["shop.orders"]
    assert project.catalog.read("shop.orders").num_rows == 2
    assert get_hwm(project.catalog, "shop.orders").date().isoformat() == "2022-03-01"
    assert [b for b in list_branches(project.catalog, "shop.orders") if b != "main"] == []  # discarded


PAUSED = """
import sys
from towpath.project import Project
Project(sys.argv[1]).run(sys.argv[2], date=sys.argv[3])
"""


def test_kill_9_between_the_tables_publishes_leaves_both_unpublished(project, write_workflow, tmp_path):
    path = two_tables(write_workflow)
    assert project.run(path, date="2022-03-01").ok
    heads = {t: project.catalog.snapshot_id(t) for t in ("shop.orders", "shop.items")}
    marker = tmp_path / "paused"
    env = {**os.environ, "TOWPATH_DEBUG_PAUSE": "between-table-commits", "TOWPATH_DEBUG_PAUSE_FILE": str(marker),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", PAUSED, str(project.root), str(path), "2022-03-02"], env=env)
    try:
        wait_for(marker, proc)  # written when one table's pointer moved, inside the still-open transaction
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    fresh = Project(project.root)
    assert {t: fresh.catalog.snapshot_id(t) for t in heads} == heads  # neither table moved
    assert fresh.catalog.read("shop.orders").num_rows == 2 and fresh.catalog.read("shop.items").num_rows == 1
    [killed] = fresh.state.list_runs(status="killed")
    assert killed.execution_date == "2022-03-02"
    assert fresh.run(path, date="2022-03-02").ok  # the next run publishes both
    assert fresh.catalog.read("shop.orders").num_rows == 4 and fresh.catalog.read("shop.items").num_rows == 2


def wait_for(marker: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, "the run ended before reaching the pause"
        assert time.monotonic() < deadline, "the run never reached the pause"
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)


def test_a_write_to_a_table_the_wap_does_not_stage_is_refused_at_runtime(project, write_workflow):
    path = write_workflow(
        """\
id: sneaky
steps:
  - job: {id: ddl, type: sql, sql: "%s"}
  - template:
      id: wap
      type: wap
      tables: [shop.orders]
      write_jobs:
        - job: {id: sneak, type: python, callable: "sneak.py:sneak", target: shop.orders}
""" % DDL,
        files={"sneak.py": (
            "import pyarrow as pa\n\n"
            "def sneak(ctx):\n"
            "    row = pa.table({'id': [7], 'sku': ['x'], 'date': pa.array([None], pa.date32())})\n"
            "    ctx.run.catalog.write('shop.items', row, 'append')  # not staged: would land on main unaudited\n"
            "    return pa.table({'id': [1], 'amount': [1.0], 'date': pa.array([None], pa.date32())})\n"
        )},
    )

    result = project.run(path, date="2022-03-01")

    assert result.status == Status.FAILED
    assert "does not stage table 'shop.items'" in (result.error or "")
    assert project.catalog.read("shop.items").num_rows == 0 and project.catalog.read("shop.orders").num_rows == 0
    detail = project.state.get_run(result.run_id)
    assert {j.job_id: j.status for j in detail.jobs}["wap.sneak"] == Status.FAILED


def test_a_write_job_that_wrote_no_rows_publishes_nothing_and_moves_no_mark(project, write_workflow):
    path = write_workflow(
        """\
id: empty
steps:
  - job: {id: ddl, type: sql, sql: "%s"}
  - template:
      id: wap
      type: wap
      tables: [shop.orders]
      write_jobs:
        - job: {id: orders, type: sql, target: shop.orders,
                sql: "SELECT 1 AS id, 1.0 AS amount, DATE '${DATE}' AS date WHERE DATE '${DATE}' < DATE '2022-03-02'"}
  - job: {id: hwm, type: hwm, table: shop.orders}
""" % DDL
    )
    assert project.run(path, date="2022-03-01").ok
    head = project.catalog.snapshot_id("shop.orders")

    result = project.run(path, date="2022-03-02")  # the source has nothing for this date

    assert result.status == Status.AUDIT_FAILED
    assert result.failed_audits == ["expect_rows[orders]"]
    assert "wrote 0 rows to shop.orders" in (result.error or "") and "expect_rows: false" in (result.error or "")
    assert project.catalog.snapshot_id("shop.orders") == head
    assert get_hwm(project.catalog, "shop.orders").date().isoformat() == "2022-03-01"
    assert [j.status for j in result.jobs][-1] == Status.SKIPPED


def test_expect_rows_false_lets_an_empty_write_publish(project, write_workflow):
    path = write_workflow(
        """\
id: empty_ok
steps:
  - job: {id: ddl, type: sql, sql: "%s"}
  - template:
      id: wap
      type: wap
      tables: [shop.orders]
      write_jobs:
        - job: {id: orders, type: sql, target: shop.orders, expect_rows: false,
                sql: "SELECT 1 AS id, 1.0 AS amount, DATE '${DATE}' AS date WHERE false"}
""" % DDL
    )
    assert project.run(path, date="2022-03-01").ok


@pytest.mark.parametrize("kind", ["python"])
def test_ctrl_c_in_a_write_job_records_the_run_interrupted_and_drops_the_branch(project, write_workflow, kind):
    path = write_workflow(
        """\
id: stop
steps:
  - job: {id: ddl, type: sql, sql: "%s"}
  - template:
      id: wap
      type: wap
      tables: [shop.orders]
      write_jobs:
        - job: {id: orders, type: sql, target: shop.orders, sql: "SELECT 1 AS id, 1.0 AS amount, DATE '${DATE}' AS date"}
        - job: {id: stop, type: %s, callable: "stop.py:stop", target: shop.orders}
""" % (DDL, kind),
        files={"stop.py": "def stop(ctx):\n    raise KeyboardInterrupt\n"},
    )

    with pytest.raises(KeyboardInterrupt):
        project.run(path, date="2022-03-01")

    [run] = project.state.list_runs()
    assert run.status == Status.INTERRUPTED and "interrupted" in (run.error or "")
    jobs = {j.job_id: j.status for j in project.state.get_run(run.run_id).jobs}
    assert jobs == {"ddl": Status.SUCCESS, "wap": Status.INTERRUPTED, "wap.orders": Status.SUCCESS,
                    "wap.stop": Status.INTERRUPTED}
    assert list(list_branches(project.catalog, "shop.orders")) == []  # nothing published, the branch is gone


def test_branches_kept_by_failed_audits_age_out_after_the_retention(project, write_workflow):
    path = write_workflow(
        """\
id: aging
steps:
  - job: {id: ddl, type: sql, sql: "%s"}
  - template:
      id: wap
      type: wap
      tables: [shop.orders]
      write_jobs:
        - job: {id: orders, type: sql, target: shop.orders, sql: "SELECT 1 AS id, 1.0 AS amount, DATE '${DATE}' AS date"}
      audits:
        - function: custom_sql
          params: {sql: "SELECT 1 AS bad WHERE DATE '${DATE}' = DATE '2022-03-02'"}
""" % DDL
    )
    assert project.run(path, date="2022-03-01").ok
    failed = project.run(path, date="2022-03-02")
    [kept] = project.branches("shop.orders")
    assert failed.status == Status.AUDIT_FAILED and kept.run_id == failed.run_id and "custom_sql" in (kept.reason or "")
    assert project.run(path, date="2022-03-03").ok
    assert [b.name for b in project.branches("shop.orders")] == [kept.name]  # younger than 7 days: kept

    (project.root / "towpath.yaml").write_text("wap_branch_retention: 0s\n")
    aged = Project(project.root)
    assert aged.run(path, date="2022-03-04").ok
    assert aged.branches("shop.orders") == []


def test_expect_rows_true_outside_a_wap_fails_an_empty_write(project, write_workflow):
    path = write_workflow(
        """\
id: plain
steps:
  - job: {id: ddl, type: sql, sql: "%s"}
  - job: {id: orders, type: sql, target: shop.orders, expect_rows: true,
          sql: "SELECT 1 AS id, 1.0 AS amount, DATE '${DATE}' AS date WHERE false"}
""" % DDL
    )
    result = project.run(path, date="2022-03-01")
    assert result.status == Status.FAILED and "wrote 0 rows" in (result.error or "")
