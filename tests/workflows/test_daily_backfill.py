"""Daily runs with lookback, backfills with skip/resume/parallelism, and the scheduler."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pyarrow.compute as pc

from towpath.catalog.metadata import get_hwm, set_hwm
from towpath.workflows.scheduler import due_workflows, run_due

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
    fired = run_due(project, now)

    assert len(fired) == 1 and fired[0].ok
    assert due_workflows(project, now + dt.timedelta(minutes=5)) == []
    assert [f.workflow_id for f in due_workflows(project, now + dt.timedelta(days=1))] == ["dataflow_sparksql_sample_daily"]


def test_scheduler_fires_when_the_trigger_table_hwm_advances(project, sample):
    daily = sample.parent / "daily.sch.yaml"
    daily.write_text(daily.read_text().replace('schedule: "0 6 * * *"\n', "trigger: {hwm_of: some_db.source_table}\n"))
    now = dt.datetime(2022, 1, 3, 7, 0, tzinfo=dt.UTC)
    assert due_workflows(project, now) == []

    set_hwm(project.catalog, "some_db.source_table", "2022-01-03")
    assert len(run_due(project, now)) == 1
    assert due_workflows(project, now) == []
    set_hwm(project.catalog, "some_db.source_table", "2022-01-04")
    assert next(f.reason for f in due_workflows(project, now)).startswith("high-water mark of some_db.source_table")
