"""The state store records runs, job runs and audits on SQLite and Postgres; several processes can record at once."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from state_workers import record_runs

from towpath.state import STALE_AFTER, RunNotFoundError, StateError, StateStore
from towpath.state._schema import SCHEMA_VERSION
from towpath.status import Status

WORKERS = Path(__file__).parent / "state_workers.py"


def test_a_run_with_jobs_and_audits_round_trips(store: StateStore, audit) -> None:
    run_id = store.start_run("top10", params={"TARGET_DB": "foo"}, execution_date="2024-01-02")
    assert store.get_run(run_id).run.status is Status.RUNNING
    job = store.start_job(run_id, "ddl", "sql")
    store.finish_job(job, "success", rows_written=42, snapshots={"foo.t": 7}, details={"branch": "wap_1"})
    wap = store.start_job(run_id, "wap", "wap")
    store.start_job(run_id, "wap.write", "sql", parent_job=wap, attempt=2)
    failed = audit(passed=False, failing_rows=3, sample=[{"title_id": None}], message="3 rows are null")
    store.record_audits(run_id, "wap", [failed], attempt=2)
    store.finish_run(run_id, Status.AUDIT_FAILED, error="audit no_nulls failed")

    detail = store.get_run(run_id)
    assert (detail.run.workflow_id, detail.run.kind, detail.run.status) == ("top10", "main", Status.AUDIT_FAILED)
    assert (detail.run.params, detail.run.execution_date, detail.run.error) == (
        {"TARGET_DB": "foo"}, "2024-01-02", "audit no_nulls failed")
    assert detail.run.finished_at and detail.run.duration_s is not None and detail.run.duration_s >= 0
    assert (detail.run.pid, detail.run.host) == (os.getpid(), store.host)
    ddl, wap_record, write_record = detail.jobs
    assert (ddl.job_id, ddl.status, ddl.rows_written) == ("ddl", Status.SUCCESS, 42)
    assert (ddl.snapshots, ddl.details) == ({"foo.t": 7}, {"branch": "wap_1"})
    assert (write_record.job_id, write_record.parent_job, write_record.attempt) == ("wap.write", wap_record.id, 2)
    [recorded] = detail.audits
    assert (recorded.job_id, recorded.attempt, recorded.result) == ("wap", 2, failed)


def test_run_ids_are_unique_and_listed_newest_first(store: StateStore) -> None:
    ids = [store.start_run("wf", params={}) for _ in range(30)]
    assert len(set(ids)) == 30
    assert [r.run_id for r in store.list_runs(limit=30)] == ids[::-1]  # by start time, newest first


def test_list_runs_filters_and_succeeded_dates(store: StateStore) -> None:
    daily = store.start_run("wf", kind="daily", params={}, execution_date="2024-01-03")
    for day, status in [("2024-01-01", "success"), ("2024-01-02", "failed"), ("2024-01-03", "success")]:
        run = store.start_run("wf", params={}, execution_date=day, parent_run_id=daily)
        store.finish_run(run, status)
    other = store.start_run("other", params={}, execution_date="2024-01-05")
    store.finish_run(other, "success")
    assert store.succeeded_dates("wf") == {"2024-01-01", "2024-01-03"}
    assert len(store.list_runs(workflow_id="wf")) == 4
    assert [r.execution_date for r in store.list_runs(workflow_id="wf", status="success")] == ["2024-01-03", "2024-01-01"]
    assert [r.run_id for r in store.list_runs(kind="daily")] == [daily]
    assert len(store.list_runs(parent_run_id=daily)) == 3
    assert len(store.list_runs(limit=2)) == 2


def test_unknown_run_and_bad_status_are_clear_errors(store: StateStore) -> None:
    run_id = store.start_run("wf", params={})
    with pytest.raises(RunNotFoundError, match=f"No run '{run_id[:-1]}' is recorded. Did you mean '{run_id}'"):
        store.get_run(run_id[:-1])
    with pytest.raises(RunNotFoundError):
        store.start_job("nope", "j", "sql")
    with pytest.raises(StateError, match="unknown run status 'done'; expected one of running, success"):
        store.finish_run(run_id, "done")
    assert store.get_run(run_id).run.status is Status.RUNNING


def test_a_run_whose_process_was_killed_shows_as_killed(location: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(WORKERS), location], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    store = StateStore(location)
    assert store.get_run(run_id).run.status is Status.RUNNING  # alive: left alone
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    detail = store.get_run(run_id)  # reading runs reconciles first
    assert detail.run.status is Status.KILLED and detail.run.finished_at
    assert f"process {proc.pid}" in (detail.run.error or "") and "died" in (detail.run.error or "")
    assert [j.status for j in detail.jobs] == [Status.KILLED]
    assert [r.run_id for r in store.list_runs(status="killed")] == [run_id]


def test_a_run_without_heartbeat_on_another_host_is_killed_after_the_stale_age(store: StateStore) -> None:
    run_id = store.start_run("wf")
    store.host = "elsewhere"  # as another machine sees it: the pid means nothing here
    assert store.reconcile(at=dt.datetime.now(dt.UTC) + STALE_AFTER / 2) == []
    store.beat()
    assert store.reconcile(at=dt.datetime.now(dt.UTC) + STALE_AFTER * 2) == [run_id]
    assert "no heartbeat" in (store.get_run(run_id).run.error or "")


def test_heartbeats_keep_a_long_run_alive(store: StateStore) -> None:
    run_id = store.start_run("wf")
    store.host = "elsewhere"
    before = store.get_run(run_id).run.heartbeat_at
    store.beat()
    after = store.get_run(run_id).run.heartbeat_at
    assert before and after and after > before
    assert store.reconcile(at=dt.datetime.fromisoformat(after) + STALE_AFTER / 2) == []


def test_a_store_written_by_the_previous_release_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    shutil.copy(Path(__file__).parent / "data" / "state_v1.db", path)  # made by towpath.catalog.state, schema v1
    store = StateStore(path)

    runs = store.list_runs()
    assert [r.execution_date for r in runs] == ["2022-01-03", "2022-01-02", "2022-01-01"]
    # the v1 run that never finished has no pid or heartbeat, and started long ago: reading found it dead
    assert [r.status for r in runs] == [Status.KILLED, Status.AUDIT_FAILED, Status.SUCCESS]
    assert "no heartbeat from process ? on ?" in (runs[0].error or "")
    old = store.get_run(runs[2].run_id)
    assert [j.job_id for j in old.jobs] == ["ddl", "wap"] and old.jobs[1].snapshots == {"foo.results": 123456789}
    assert [(a.result.name, a.result.passed, a.attempt, a.result.sql) for a in old.audits] == [
        ("not_null", True, None, "")]
    new = store.start_run("top10", execution_date="2022-01-04")  # the new columns work on the old file
    assert store.get_run(new).run.pid == os.getpid()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_store_of_the_last_release_gains_every_table_and_column_of_this_one(tmp_path: Path) -> None:
    """A table tagged with a version the store already has is never created: a schema change needs a new version."""
    from towpath.state._schema import metadata

    path = tmp_path / "state.db"
    shutil.copy(Path(__file__).parent / "data" / "state_v3.db", path)  # made by towpath 08a8f97, schema v3
    run_id = StateStore(path).start_run("wf")
    inspector = sa.inspect(sa.create_engine(f"sqlite:///{path}"))
    for table in metadata.sorted_tables:
        assert inspector.has_table(table.name), table.name
        assert {c["name"] for c in inspector.get_columns(table.name)} >= set(table.columns.keys()), table.name
    assert StateStore(path).get_run(run_id).run.workflow_id == "wf"


def test_a_store_from_a_newer_towpath_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).start_run("wf")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StateError, match="schema version 99, newer than this towpath understands"):
        StateStore(path)


def test_opening_a_current_store_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """Every CLI process opens the store: a current one is checked with a read, not the write lock."""
    path = tmp_path / "state.db"
    run_id = StateStore(path).start_run("wf")
    with sqlite3.connect(path, isolation_level=None) as writer:
        writer.execute("BEGIN IMMEDIATE")  # another process in the middle of recording
        reader = StateStore(path, timeout_s=0.2)
        assert reader.get_run(run_id).run.workflow_id == "wf"
        writer.execute("ROLLBACK")


def test_a_write_takes_the_write_lock_up_front_and_a_read_never_does(tmp_path: Path) -> None:
    """SQLite writes begin IMMEDIATE: a write that read first can never deadlock on upgrading its lock."""
    store = StateStore(tmp_path / "state.db")
    run_id = store.start_run("wf")
    with sqlite3.connect(tmp_path / "state.db", isolation_level=None, timeout=0) as other:
        with store.db.write(), pytest.raises(sqlite3.OperationalError, match="database is locked"):
            other.execute("BEGIN IMMEDIATE")
        with store.db.read() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1
            other.execute("BEGIN IMMEDIATE")  # a reader holds no write lock
            other.execute("ROLLBACK")
    store.finish_run(run_id, "success")
    assert store.get_run(run_id).run.status is Status.SUCCESS


def test_a_forked_child_records_through_its_own_connection(location: str) -> None:
    """The worker and the scheduler fork per command; the pooled connection stays the parent's."""
    store = StateStore(location)
    store.start_run("parent")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        try:
            store.start_run("child")
        finally:
            os._exit(0 if len(store.list_runs()) == 2 else 1)
    assert os.waitpid(pid, 0)[1] == 0
    store.start_run("parent again")
    assert sorted(r.workflow_id for r in store.list_runs()) == ["child", "parent", "parent again"]


def test_reopening_keeps_data(location: str) -> None:
    run_id = StateStore(location).start_run("wf", params={})
    assert StateStore(location).get_run(run_id).run.workflow_id == "wf"


def test_two_processes_record_at_once(location: str) -> None:
    StateStore(location)
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Manager().Barrier(2)
    with spawn.Pool(2) as pool:
        ids_a, ids_b = pool.starmap(record_runs, [(location, "a", 50, barrier), (location, "b", 50, barrier)])
    store = StateStore(location)
    assert len(set(ids_a) | set(ids_b)) == 100
    runs = store.list_runs(limit=500)
    assert len(runs) == 100 and {r.status for r in runs} == {Status.SUCCESS}
    assert len(store.succeeded_dates("a")) == len(store.succeeded_dates("b")) == 50
    detail = store.get_run(ids_b[-1])
    assert [j.snapshots for j in detail.jobs] == [{"db.t": 49}] and len(detail.audits) == 1


def test_unreachable_postgres_is_a_state_error() -> None:
    with pytest.raises(StateError, match="cannot open the state store postgresql://nobody@127.0.0.1:1/x"):
        StateStore("postgresql://nobody@127.0.0.1:1/x")


def test_a_project_records_its_runs_in_postgres_by_configuration(tmp_path: Path, postgres_server) -> None:
    import psycopg

    from towpath.project import Project

    with psycopg.connect(postgres_server.dsn, autocommit=True) as con:
        con.execute("CREATE DATABASE project_state")
    project = Project.init(tmp_path / "proj")
    (project.root / "towpath.yaml").write_text(f"state: '{postgres_server.dsn_for('project_state')}'\n")
    (project.root / "wf.sch.yaml").write_text(
        "id: pg\nsteps:\n  - job: {id: ddl, type: sql, sql: 'CREATE TABLE IF NOT EXISTS a.t (x INT) STORED AS ICEBERG'}\n"
    )
    project = Project(project.root)

    result = project.run("wf.sch.yaml", date="2024-01-01")

    assert result.ok, result.error
    assert not (project.root / ".towpath" / "state.db").exists()
    with psycopg.connect(postgres_server.dsn_for("project_state")) as con:
        assert con.execute("SELECT workflow_id, status FROM runs").fetchall() == [("pg", "success")]


def test_alert_firings_are_recorded_with_the_window_offsets(tmp_path: Path) -> None:
    from towpath.state import AlertFiring

    store = StateStore(tmp_path / "state.db")
    firing = AlertFiring("orders", "big", 2, {"orders/0": [10, 20]}, 42, [{"id": 1}], "log", None, "2026-01-01T00:00:00")
    store.alerts.record(firing)
    assert store.alerts.of_stream("orders") == [firing]
    assert store.alerts.of_stream("other") == []
