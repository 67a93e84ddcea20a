"""The project's schedule files as Airflow DAGs, run with `dag.test()` in a real Apache Airflow (its own venv).

One driver run covers a project's whole life in Airflow (each Airflow start costs seconds):
the cron daily for a good date and for a date whose audit fails, the high-water-mark DAG
twice (its first run fires on the existing mark; the second defers until the mark moves),
and the backfill DAG. The tests then check Airflow's view (DAG runs, task states, XComs,
task logs) against towpath's (the table's rows, the marks, the runs).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from airflow_project import BAD_DAY, SRC, TOWPATH_BIN, RunDags, build_project, drive

from towpath.project import Project

TODAY = dt.datetime.now(dt.UTC).date()
DAYS = [dt.date(2024, 1, d) for d in (1, 2, 3)] + [TODAY, TODAY + dt.timedelta(days=1)]
"""Source days: three of January 2024, and today (tomorrow too, for a run that crosses midnight)."""


def counts(project: Project, day: str) -> dict[str, int]:
    rows = project.query(f"SELECT kind, n FROM mart.event_counts WHERE date = DATE '{day}'").to_pylist()
    return {row["kind"]: row["n"] for row in rows}


def log_of(run: dict[str, Any]) -> str:
    return "\n".join(run["log"])


@pytest.fixture(scope="module")
def lifecycle(venv: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("airflow")
    project = build_project(tmp / "proj", DAYS)
    result = drive(venv, tmp / "airflow-home", project.root, factory={"retries": 2, "retry_delay_s": 1}, runs=[
        {"dag": "event_counts_daily", "date": "2024-01-02T06:00:00+00:00"},
        {"dag": "event_counts_daily", "date": f"{BAD_DAY}T06:00:00+00:00"},
        {"dag": "event_counts_on_raw", "date": "2024-02-01T00:00:00+00:00"},
        {"dag": "event_counts_on_raw", "date": "2024-02-02T00:00:00+00:00",
         "move_mark": {"table": "raw.events", "to": "2024-01-03"}},
        {"dag": "event_counts_backfill", "date": "2024-02-03T00:00:00+00:00"},
        {"dag": "event_counts_backfill", "date": "2024-02-04T00:00:00+00:00",
         "conf": {"start": BAD_DAY, "end": BAD_DAY}},
    ])
    return project, result


def test_the_factory_builds_one_dag_per_schedule_file(lifecycle: tuple[Project, dict[str, Any]]) -> None:
    _, result = lifecycle
    dags = result["dags"]
    assert sorted(dags) == ["event_counts_backfill", "event_counts_both", "event_counts_both__hwm",
                            "event_counts_daily", "event_counts_on_raw"]
    # a daily with a schedule and a trigger: the cron DAG (in its own time zone) and the mark's DAG
    assert (dags["event_counts_both"]["timetable"], dags["event_counts_both"]["schedule"]) == (
        "CronTriggerTimetable", "30 7 * * 1")
    assert dags["event_counts_both"]["timezone"] == "Europe/Paris" and dags["event_counts_daily"]["timezone"] == "UTC"
    assert dags["event_counts_both__hwm"]["tasks"]["daily"]["upstream"] == ["wait_for_hwm"]
    daily = dags["event_counts_daily"]
    assert (daily["timetable"], daily["schedule"], daily["catchup"], daily["max_active_runs"]) == (
        "CronTriggerTimetable", "0 6 * * *", False, 1)
    assert daily["owner"] == "data-eng@example.com" and daily["tasks"]["daily"]["retries"] == 2
    on_raw = dags["event_counts_on_raw"]
    assert on_raw["timetable"] == "ContinuousTimetable" and on_raw["max_active_runs"] == 1
    assert on_raw["tasks"]["daily"]["upstream"] == ["wait_for_hwm"]
    assert on_raw["tasks"]["wait_for_hwm"]["deferrable"] is True
    assert on_raw["trigger_round_trip"] == [True]  # the triggerer can rebuild it in its own process
    backfill = dags["event_counts_backfill"]
    assert backfill["timetable"] == "NullTimetable"
    assert backfill["params"] == {"start": "2024-01-01", "end": "2024-01-02", "force": False, "parallel": 2}


def test_a_daily_run_writes_its_date_through_towpath(lifecycle: tuple[Project, dict[str, Any]]) -> None:
    project, result = lifecycle
    run = result["runs"][0]
    assert run["state"] == "success"
    task = run["tasks"]["daily"]
    assert task["state"] == "success" and task["xcom"]["today"] == "2024-01-02"
    assert task["xcom"]["runs"][0]["status"] == "success"
    assert counts(project, "2024-01-02") == {"a": 3, "b": 2}
    log = log_of(run)
    assert "workflow daily" in log and "--today 2024-01-02" in log
    assert "step wap.count success" in log  # towpath's own progress, streamed into the task log
    assert "passed columns_should_not_have_nulls on mart.event_counts" in log


def test_a_failing_audit_fails_the_task_without_retries_and_publishes_nothing(
    lifecycle: tuple[Project, dict[str, Any]],
) -> None:
    project, result = lifecycle
    run = result["runs"][1]
    assert run["state"] == "failed"
    task = run["tasks"]["daily"]
    assert task["state"] == "failed"
    assert task["try_number"] == 1  # retries=2, but rerunning the same data cannot pass the audit
    assert counts(project, BAD_DAY) == {}
    log = log_of(run)
    assert "AirflowFailException" in log
    assert f"AirflowFailException: {BAD_DAY}: step 'wap' (wap) audit failed: 1 blocking audit(s) failed on branch" in log
    assert "Nothing was published" in log
    assert "(towpath exit code 1)" in log
    failed = project.state.list_runs(workflow_id="event_counts", limit=10)
    assert any(r.execution_date == BAD_DAY and r.status == "audit_failed" for r in failed)


def test_the_hwm_sensor_defers_and_fires_when_the_mark_moves(lifecycle: tuple[Project, dict[str, Any]]) -> None:
    project, result = lifecycle
    first, second = result["runs"][2], result["runs"][3]
    # the first run has no earlier mark to wait past: the existing mark fires it
    assert first["state"] == "success" and first["tasks"]["wait_for_hwm"]["hwm"] == "2024-01-02T00:00:00+00:00"
    # the second waits past that mark: it deferred, polled, and fired once the upstream moved the mark
    log = log_of(second)
    assert "[DAG TEST] running trigger in line" in log  # the sensor raised TaskDeferred
    assert "high-water mark of raw.events is still 2024-01-02T00:00:00+00:00" in log
    assert "high-water mark of raw.events is 2024-01-03T00:00:00+00:00 (was 2024-01-02T00:00:00+00:00)" in log
    assert second["state"] == "success"
    assert second["tasks"]["wait_for_hwm"]["hwm"] == "2024-01-03T00:00:00+00:00"
    ran_for = second["tasks"]["daily"]["xcom"]["today"]  # a triggered daily runs for today, as the scheduler does
    assert ran_for in (TODAY.isoformat(), (TODAY + dt.timedelta(days=1)).isoformat())
    assert counts(project, ran_for) == {"a": 3, "b": 2}


def test_the_backfill_dag_runs_the_files_range(lifecycle: tuple[Project, dict[str, Any]]) -> None:
    project, result = lifecycle
    run = result["runs"][4]
    assert run["state"] == "success"
    xcom = run["tasks"]["backfill"]["xcom"]
    assert (xcom["start"], xcom["end"]) == ("2024-01-01", "2024-01-02")
    assert xcom["succeeded"] == ["2024-01-01"] and xcom["skipped"] == ["2024-01-02"]  # the daily did 01-02
    assert counts(project, "2024-01-01") == {"a": 3, "b": 2}
    assert "--start=2024-01-01 --end=2024-01-02 --parallel=2" in log_of(run)


def test_a_broken_schedule_file_is_the_dag_files_import_error(run_dags: RunDags, tmp_path: Path) -> None:
    project = build_project(tmp_path / "proj", DAYS[:1])
    (project.root / "broken.sch.yaml").write_text(
        'id: broken\ntype: daily\nworkflow: main.sch.yaml\nschedule: "0 6 * *"\n')
    (project.root / "tabs.sch.yaml").write_text("id: tabs\ntype: daily\n  workflow: [\n")

    result = run_dags(project.root)

    error = result["import_error"]
    assert error.startswith("ScheduleExportError: towpath project")
    assert f"{project.root}/broken.sch.yaml:4:1: schedule: invalid cron expression '0 6 * *'" in error
    assert f"{project.root}/tabs.sch.yaml:3:11: invalid YAML" in error
    assert "(towpath exit code 1)" in error and "Traceback" not in error


def test_a_missing_towpath_executable_is_named(run_dags: RunDags, tmp_path: Path) -> None:
    project = build_project(tmp_path / "proj", DAYS[:1])

    result = run_dags(project.root, towpath_bin=["/nonexistent/bin/towpath"])

    assert "cannot run '/nonexistent/bin/towpath'" in result["import_error"]
    assert "set towpath_bin" in result["import_error"]


def test_towpath_airflow_needs_only_airflow_and_the_standard_library(venv: Any) -> None:
    """Airflow's venv has none of towpath's dependencies, and its SQLAlchemy is one towpath cannot use."""
    probe = (
        "import importlib.util, json, sys, sqlalchemy, towpath.airflow\n"
        "print(json.dumps({'sqlalchemy': sqlalchemy.__version__,\n"
        "  'modules': sorted(m for m in sys.modules if m.split('.')[0] == 'towpath'),\n"
        "  'found': [n for n in ('pyiceberg', 'duckdb', 'sqlglot', 'pyarrow')\n"
        "            if importlib.util.find_spec(n)]}))\n"
    )
    done = subprocess.run([str(venv.python), "-c", probe], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(SRC), "AIRFLOW_HOME": str(venv.template_db.parent), "PATH": "/usr/bin"})
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["sqlalchemy"].startswith("1.4")  # Airflow 2.10's pin; pyiceberg's SQL catalog needs 2.x
    assert set(seen["modules"]) <= {"towpath", "towpath.errors", "towpath.airflow", "towpath.airflow._command",
                                  "towpath.airflow.dags", "towpath.airflow.operator", "towpath.airflow.sensor"}
    assert seen["found"] == []
    assert Path(TOWPATH_BIN[0]).exists()


def test_a_backfill_run_takes_its_range_from_the_dag_params_and_fails_on_a_failed_date(
    lifecycle: tuple[Project, dict[str, Any]],
) -> None:
    project, result = lifecycle
    run = result["runs"][5]
    assert run["state"] == "failed"
    assert run["tasks"]["backfill"]["try_number"] == 1  # an audit failed: no retry
    log = log_of(run)
    assert f"--start={BAD_DAY} --end={BAD_DAY}" in log
    assert (f"AirflowFailException: 1 dates of {BAD_DAY}..{BAD_DAY} failed:\n"
            f"{BAD_DAY}: step 'wap' (wap) audit failed: 1 blocking audit(s) failed") in log
    assert counts(project, BAD_DAY) == {}


def test_killing_the_task_interrupts_towpath_which_records_it(run_dags: RunDags, tmp_path: Path) -> None:
    project = build_project(tmp_path / "proj", DAYS[:1])
    waits = project.root / "waits.sch.yaml"  # a run that waits for a mark that never comes
    waits.write_text("id: waits\nsteps:\n  - job: {id: wait, type: wait, table: raw.events, until: '2099-01-01',"
                     " timeout: 300, poll_interval: 0.2}\n")

    result = run_dags(project.root, kill={"workflow": str(waits), "date": "2024-01-01",
                                          "after": "step wait (wait) started"})

    assert result["kill"]["killed"] is True
    assert result["kill"]["error"] == "AirflowException: interrupted (SIGINT) (towpath exit code 130)"  # retryable
    [run] = project.state.list_runs(workflow_id="waits", limit=5)
    assert run.status == "interrupted" and run.error == "interrupted (Ctrl-C)"
