"""Daily runs with lookback, backfills with skip/resume/parallelism, and the scheduler."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pyarrow.compute as pc
import pytest

from towpath.catalog.metadata import get_hwm, set_hwm
from towpath.project import Project
from towpath.workflows import SchedulerService
from towpath.workflows.scheduler import due_workflows

RESULTS = "foo.dataflow_sample_results"


def dates_in(project) -> list[str]:
    table = project.catalog.read(RESULTS)
    return sorted({d.isoformat() for d in pc.unique(table["date"]).to_pylist()})


def test_daily_runs_today_and_lookback_then_sets_the_hwm(project, sample):
    result = project.daily(sample.parent / "daily.sch.yaml", today="2022-01-03")

    assert result.ok, result.error
    assert [r.execution_date for r in result.runs] == ["2022-01-01", "2022-01-02", "2022-01-03"]
    assert dates_in(project) == ["2022-01-01", "2022-01-02", "2022-01-03"]
    assert get_hwm(project.catalog, RESULTS).date() == dt.date(2022, 1, 3)
    daily = project.state.list_runs(kind="daily")
    assert len(daily) == 1 and daily[0].status == "success"
    assert {r.parent_run_id for r in project.state.list_runs(kind="main")} == {daily[0].run_id}


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


def test_daily_failure_is_posted_to_the_webhook(project, sample):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        daily = sample.parent / "daily.sch.yaml"
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        daily.write_text(daily.read_text() + f"notifications: {{webhook: '{url}'}}\n")
        (sample.parent / "src" / "sparksql_write.sql").write_text("SELECT nope FROM some_db.source_table")

        result = project.daily(daily, today="2022-01-03")
    finally:
        server.shutdown()

    assert result.status == "failed" and get_hwm(project.catalog, "some_db.source_table") is None
    assert len(_Hook.received) == 1
    assert _Hook.received[0]["workflow_id"] == "dataflow_sparksql_sample_daily" and "nope" in _Hook.received[0]["error"]


def test_backfill_runs_every_date_in_parallel_and_skips_done_ones(project, sample):
    backfill = sample.parent / "backfill.sch.yaml"

    first = project.backfill(backfill, start="2022-01-01", end="2022-01-03", parallel=2)

    assert first.status == "success", first.failed
    assert first.succeeded == ["2022-01-01", "2022-01-02", "2022-01-03"]
    assert dates_in(project) == ["2022-01-01", "2022-01-02", "2022-01-03"]
    again = project.backfill(backfill, start="2022-01-01", end="2022-01-03")
    assert again.skipped == ["2022-01-01", "2022-01-02", "2022-01-03"] and again.runs == []
    forced = project.backfill(backfill, start="2022-01-02", end="2022-01-02", force=True)
    assert forced.succeeded == ["2022-01-02"]


def test_failed_backfill_resumes_where_it_stopped(project, sample):
    backfill = sample.parent / "backfill.sch.yaml"
    good = sample.read_text()
    # A blocking custom audit that fails for the 2nd of January only.
    sample.write_text(good.replace("      audits:\n", """      audits:
        - function: custom_sql
          blocking: true
          params: {sql: "SELECT 1 AS bad WHERE DATE '${DATE}' = DATE '2022-01-02'"}
""", 1))

    broken = project.backfill(backfill, start="2022-01-01", end="2022-01-03")

    assert sorted(broken.failed) == ["2022-01-02"] and broken.succeeded == ["2022-01-01", "2022-01-03"]
    sample.write_text(good)
    resumed = project.backfill(backfill, start="2022-01-01", end="2022-01-03")
    assert [r.execution_date for r in resumed.runs] == ["2022-01-02"] and resumed.status == "success"
    assert dates_in(project) == ["2022-01-01", "2022-01-02", "2022-01-03"]


def test_scheduler_fires_a_due_daily_once(project, sample):
    now = dt.datetime(2022, 1, 3, 7, 0, tzinfo=dt.UTC)

    due = due_workflows(project, now)
    assert [f.workflow_id for f in due] == ["dataflow_sparksql_sample_daily"]
    fired = fire_due(project, now)

    assert len(fired) == 1 and fired[0].ok
    assert due_workflows(project, now + dt.timedelta(minutes=5)) == []
    assert [f.workflow_id for f in due_workflows(project, now + dt.timedelta(days=1))] == ["dataflow_sparksql_sample_daily"]


def test_scheduler_fires_when_the_trigger_table_hwm_advances(project, sample):
    daily = sample.parent / "daily.sch.yaml"
    daily.write_text(daily.read_text().replace('schedule: "0 6 * * *"\n', "trigger: {hwm_of: some_db.source_table}\n"))
    now = dt.datetime(2022, 1, 3, 7, 0, tzinfo=dt.UTC)
    assert due_workflows(project, now) == []

    set_hwm(project.catalog, "some_db.source_table", "2022-01-03")
    assert len(fire_due(project, now)) == 1
    assert due_workflows(project, now) == []
    set_hwm(project.catalog, "some_db.source_table", "2022-01-04")
    assert next(f.reason for f in due_workflows(project, now)).startswith("high-water mark of some_db.source_table")


def fire_due(project, now):
    """Fire what is due at `now` once, as `towpath schedule run --once` does."""
    root = project.root
    return SchedulerService(project, lambda: Project(root), clock=lambda: now).run(once=True)


def failing_on(sample, date: str) -> str:
    """Make `sample` fail a blocking audit on `date` only; returns the good text to restore."""
    good = sample.read_text()
    sample.write_text(good.replace("      audits:\n", f"""      audits:
        - function: custom_sql
          blocking: true
          params: {{sql: "SELECT 1 AS bad WHERE DATE '${{DATE}}' = DATE '{date}'"}}
""", 1))
    return good


def test_backfill_sets_each_mark_once_to_the_newest_date_before_a_failure(project, sample):
    """The dates run in parallel and finish in any order; the mark never lands on or beyond a failed date."""
    failing_on(sample, "2022-01-02")
    backfill = sample.parent / "backfill.sch.yaml"

    result = project.backfill(backfill, start="2022-01-01", end="2022-01-03", parallel=3)

    assert sorted(result.failed) == ["2022-01-02"] and result.succeeded == ["2022-01-01", "2022-01-03"]
    assert result.hwm == {RESULTS: "2022-01-01T00:00:00+00:00"}  # not the 3rd: that would claim the 2nd is done
    assert get_hwm(project.catalog, RESULTS).date() == dt.date(2022, 1, 1)
    hwm_steps = [j for r in result.runs for j in r.jobs if j.job_id == "hwm" and j.status == "success"]
    assert hwm_steps and all(j.details["deferred"] for j in hwm_steps)  # the runs only handed their marks up


def test_an_older_backfill_keeps_a_newer_mark_and_says_so(project, sample):
    assert project.run(sample, date="2022-01-03").ok
    result = project.backfill(sample.parent / "backfill.sch.yaml", start="2022-01-01", end="2022-01-02")
    assert result.status == "success" and result.hwm == {}
    assert result.hwm_kept == {RESULTS: "2022-01-03T00:00:00+00:00"}
    assert get_hwm(project.catalog, RESULTS).date() == dt.date(2022, 1, 3)
    rerun = project.run(sample, date="2022-01-01")  # a plain run of an older date: the step records it
    hwm = next(j for j in rerun.jobs if j.job_id == "hwm")
    assert hwm.details["kept_newer"] and "stays at 2022-01-03" in hwm.warnings[0]
    stored = project.state.get_run(rerun.run_id)
    assert next(j for j in stored.jobs if j.job_id == "hwm").details["kept_newer"] is True


def test_daily_marks_the_newest_date_that_published_never_a_failed_one(project, sample):
    failing_on(sample, "2022-01-03")
    result = project.daily(sample.parent / "daily.sch.yaml", today="2022-01-03")
    assert result.status == "failed" and [r.execution_date for r in result.runs][-1] == "2022-01-03"
    assert result.hwm == {RESULTS: "2022-01-02T00:00:00+00:00"}
    assert get_hwm(project.catalog, RESULTS).date() == dt.date(2022, 1, 2)


def test_backfill_failure_is_posted_to_the_webhook(project, sample):
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (project.root / "towpath.yaml").write_text(
            f"notifications: {{webhook: 'http://127.0.0.1:{server.server_address[1]}/hook'}}\n")
        failing_on(sample, "2022-01-02")
        result = type(project)(project.root).backfill(sample.parent / "backfill.sch.yaml", start="2022-01-01", end="2022-01-02")
    finally:
        server.shutdown()

    assert sorted(result.failed) == ["2022-01-02"]
    [posted] = received
    assert posted["kind"] == "backfill" and posted["failed_dates"] == ["2022-01-02"]
    assert posted["workflow_id"] == "dataflow_sparksql_sample_backfill" and "custom_sql" in posted["error"]
    assert posted["run_id"] == project.state.list_runs(kind="backfill")[0].run_id


def test_ctrl_c_in_a_backfill_records_it_interrupted_and_drops_the_branch(project, sample):
    from towpath.catalog import list_branches

    good = sample.read_text()
    (sample.parent / "stop.py").write_text("def stop(ctx):\n    raise KeyboardInterrupt\n")
    sample.write_text(good.replace(
        "            script: src/sparksql_write.sql\n",
        "            script: src/sparksql_write.sql\n"
        "        - job: {id: stop, type: python, callable: 'stop.py:stop', target: foo.dataflow_sample_results}\n",
    ))

    with pytest.raises(KeyboardInterrupt):
        project.backfill(sample.parent / "backfill.sch.yaml", start="2022-01-01", end="2022-01-01")

    [parent] = project.state.list_runs(kind="backfill")
    [child] = project.state.list_runs(kind="main")
    assert (parent.status, child.status) == ("interrupted", "interrupted")
    assert [b for b in list_branches(project.catalog, RESULTS) if b != "main"] == []
