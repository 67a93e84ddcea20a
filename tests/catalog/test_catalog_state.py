"""The run store records runs, job runs and audits; several processes can record at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from catalog_workers import record_runs

from towpath.catalog import AuditRecord, RunNotFoundError, RunStore
from towpath.errors import CatalogError


def test_a_run_with_jobs_and_audits_round_trips(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state.db")
    run_id = store.start_run("top10", params={"TARGET_DB": "foo"}, execution_date="2024-01-02")
    assert store.get_run(run_id).run.status == "running"
    job = store.start_job(run_id, "ddl", "sql")
    store.finish_job(job, "success", rows_written=42, snapshots={"foo.t": 7}, details={"branch": "wap_1"})
    audit = AuditRecord("no_nulls", "not_null", "foo.t", True, False, 3, [{"title_id": None}], "3 rows are null")
    store.record_audit(run_id, "wap", audit)
    store.finish_run(run_id, "audit_failed", error="audit no_nulls failed")

    detail = store.get_run(run_id)
    assert (detail.run.workflow_id, detail.run.kind, detail.run.status) == ("top10", "main", "audit_failed")
    assert (detail.run.params, detail.run.execution_date, detail.run.error) == (
        {"TARGET_DB": "foo"}, "2024-01-02", "audit no_nulls failed")
    assert detail.run.finished_at and detail.run.duration_s is not None and detail.run.duration_s >= 0
    [job_record] = detail.jobs
    assert (job_record.job_id, job_record.status, job_record.rows_written) == ("ddl", "success", 42)
    assert (job_record.snapshots, job_record.details) == ({"foo.t": 7}, {"branch": "wap_1"})
    assert detail.audits == [audit]


def test_run_ids_are_sortable_and_unique(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state.db")
    ids = [store.start_run("wf", params={}) for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(len(i) == 22 and i[8] == "T" and i[15] == "-" for i in ids)
    assert [i[:15] for i in ids] == sorted(i[:15] for i in ids)  # the start second leads the id
    assert [r.run_id for r in store.list_runs(limit=50)] == ids[::-1]  # newest first


def test_list_runs_filters_and_succeeded_dates(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state.db")
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


def test_unknown_run_and_bad_status_are_clear_errors(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state.db")
    run_id = store.start_run("wf", params={})
    with pytest.raises(RunNotFoundError, match=f"No run '{run_id[:-1]}' is recorded. Did you mean '{run_id}'"):
        store.get_run(run_id[:-1])
    with pytest.raises(RunNotFoundError):
        store.start_job("nope", "j", "sql")
    with pytest.raises(CatalogError, match="unknown run status 'done'"):
        store.finish_run(run_id, "done")
    assert store.get_run(run_id).run.status == "running"


def test_schema_is_versioned_and_reopening_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    run_id = RunStore(path).start_run("wf", params={})
    assert RunStore(path).get_run(run_id).run.workflow_id == "wf"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(CatalogError, match="schema version 99, newer than this towpath"):
        RunStore(path)


def test_two_processes_record_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    RunStore(path)
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Manager().Barrier(2)
    with spawn.Pool(2) as pool:
        ids_a, ids_b = pool.starmap(record_runs, [(str(path), "a", 100, barrier), (str(path), "b", 100, barrier)])
    store = RunStore(path)
    assert len(set(ids_a) | set(ids_b)) == 200
    runs = store.list_runs(limit=500)
    assert len(runs) == 200 and {r.status for r in runs} == {"success"}
    assert len(store.succeeded_dates("a")) == len(store.succeeded_dates("b")) == 100
    detail = store.get_run(ids_b[-1])
    assert [j.snapshots for j in detail.jobs] == [{"db.t": 99}] and len(detail.audits) == 1
