"""`towpath ui` server time per page on a project with 10,000 runs and 100 tables, against the raw reads.

The project is generated: `--tables` Iceberg tables (each partitioned by day, `--snapshots` commits
of a few rows, owner and tags), the lineage of one workflow writing each table, and `--runs` recorded
runs of 20 workflows over 500 dates (each with three job runs and an audit; every 7th run failed its
audit). The runs are written in bulk into the state store (10,000 separate `start_run` transactions
would dominate the setup, not the pages).

For each page: the median server time of `--repeat` warm requests (the app's `Server-Timing`), as
HTML and as JSON, and the raw baseline measured in the same run: the same data read through the
state/catalog API with no rendering (what any console must at least do). Then the first request of
a console just started in a NEW process (`towpath.ui.serve`, as `towpath ui` runs it), once with the
warm-up `towpath ui` does before it opens its port and once without it (the baseline), with the
time from the process's start to the console listening. Target: every page under 300 ms, the
first request included.

Usage: python -m benchmarks.bench_ui [--runs 10000] [--tables 100] [--snapshots 3] [--repeat 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

WORKFLOWS = 20
DATES = 500


def build(root: Path, *, runs: int, tables: int, snapshots: int) -> Any:
    from towpath.catalog import apply_ddl, set_metadata
    from towpath.project import Project
    from towpath.state import LineageEdge

    project = Project.init(root, name="bench")
    catalog = project.catalog
    catalog.ensure_namespace("bench")
    edges: dict[str, list[LineageEdge]] = {}
    for i in range(tables):
        name = f"bench.t{i:03d}"
        apply_ddl(catalog, f"CREATE TABLE {name} (id BIGINT COMMENT 'key', country STRING, amount DOUBLE, "
                           "day DATE) PARTITIONED BY (day)")
        for s in range(snapshots):
            day = dt.date(2024, 1, 1) + dt.timedelta(days=s)
            catalog.write(name, pa.table({"id": pa.array(range(s * 100, s * 100 + 100), pa.int64()),
                                          "country": ["US", "GB", "DE", "FR"] * 25,
                                          "amount": [float(k) for k in range(100)], "day": [day] * 100}))
        set_metadata(catalog, name, owner=f"team{i % 5}", tags=["bench"], lifetime_days=30)
        workflow = f"w{i % WORKFLOWS:02d}"
        edges.setdefault(workflow, []).append(LineageEdge(f"bench.t{max(i - 1, 0):03d}", name, workflow_id=workflow,
                                                          job_id="load", kind="table"))
    for workflow, written in edges.items():
        project.state.lineage.replace_static(workflow, written, [], owner=f"team{int(workflow[1:]) % 5}")
    _runs(project, runs)
    return project


def _runs(project: Any, count: int) -> None:
    """Bulk rows in the state store's runs, jobs and audits tables (one transaction)."""
    import sqlalchemy as sa

    from towpath.state import _schema as t

    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    graph = json.dumps({"extract": [], "wap": ["extract"], "hwm": ["wap"]})
    runs, jobs, audits = [], [], []
    for n in range(count):
        at = start + dt.timedelta(minutes=n)
        run_id = f"{at:%Y%m%dT%H%M%S}-{n:06x}"
        date = (dt.date(2024, 1, 1) + dt.timedelta(days=n % DATES)).isoformat()
        failed = n % 7 == 0
        status = "audit_failed" if failed else "success"
        runs.append({"run_id": run_id, "workflow_id": f"w{n % WORKFLOWS:02d}", "kind": "main", "status": status,
                     "execution_date": date, "params": json.dumps({"DATE": date}), "started_at": at.isoformat(),
                     "finished_at": (at + dt.timedelta(seconds=20)).isoformat(), "error": None, "parent_run_id": None,
                     "pid": 1, "host": "bench", "heartbeat_at": at.isoformat(), "workflow_path": None, "graph": graph})
        for k, (job, kind) in enumerate((("extract", "sql"), ("wap", "wap"), ("hwm", "hwm"))):
            jobs.append({"run_id": run_id, "job_id": job, "job_type": kind,
                         "status": status if job == "wap" else "success",
                         "started_at": (at + dt.timedelta(seconds=5 * k)).isoformat(),
                         "finished_at": (at + dt.timedelta(seconds=5 * k + 4)).isoformat(), "rows_written": 1000,
                         "snapshots": json.dumps({f"bench.t{n % 100:03d}": n}), "error": None, "details": "{}",
                         "parent_job": None, "attempt": 1 if job == "wap" else None})
        audits.append({"run_id": run_id, "job_id": "wap", "name": "not_null", "function": "columns_should_not_have_nulls",
                       "table_name": f"bench.t{n % 100:03d}", "blocking": 1, "passed": int(not failed),
                       "failing_rows": 3 if failed else 0,
                       "sample": json.dumps([{"id": None, "country": "US"}] * (3 if failed else 0)), "message": "",
                       "sql": "SELECT * FROM t WHERE id IS NULL", "attempt": 1,
                       "recorded_at": (at + dt.timedelta(seconds=9)).isoformat()})
    with project.state.db.write() as conn:
        conn.execute(sa.insert(t.runs), runs)
        conn.execute(sa.insert(t.jobs), jobs)
        conn.execute(sa.insert(t.audits), audits)


def measure(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` warm calls (one warm-up first), in ms."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def server_ms(client: Any, path: str, repeat: int, *, as_json: bool) -> float:
    """Median `Server-Timing` of `repeat` warm requests, in ms."""
    headers = {"Accept": "application/json" if as_json else "text/html"}
    assert client.get(path, headers=headers).status_code == 200, path
    times = []
    for _ in range(repeat):
        answer = client.get(path, headers=headers)
        times.append(float(answer.headers["server-timing"].split("=")[1]))
    return statistics.median(times)


SERVE = """
import sys, time
began = time.perf_counter()
from pathlib import Path
from towpath.project import Project
from towpath.ui import UiConfig, serve
serve(Project(Path(sys.argv[1])), UiConfig(port=0, warm_up=sys.argv[2] == "warm"),
      started=lambda url: print(url, time.perf_counter() - began, flush=True))
"""


def first_request(root: Path, path: str, *, warm: bool) -> tuple[float, float]:
    """(seconds from a new console process's start to its port listening, server ms of its first request)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(root), "warm" if warm else "cold"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[0]
        ready = time.perf_counter() - started
        with urllib.request.urlopen(urllib.request.Request(url + path, headers={"Accept": "text/html"})) as answer:
            return ready, float(answer.headers["server-timing"].split("=")[1])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--tables", type=int, default=100)
    parser.add_argument("--snapshots", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    from starlette.testclient import TestClient

    from towpath.catalog import describe, get_hwm, history
    from towpath.kv import open_store, overview
    from towpath.lineage import LineageGraph
    from towpath.ui import UiConfig, create_app
    from towpath.ui.tables import partitions

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        project = build(Path(tmp) / "bench", runs=args.runs, tables=args.tables, snapshots=args.snapshots)
        setup_s = time.perf_counter() - started
        state, catalog = project.state, project.catalog
        failed = state.list_runs(status="audit_failed", limit=1)[0].run_id
        table = f"bench.t{min(42, args.tables - 1):03d}"
        client = TestClient(create_app(project, UiConfig()))

        def raw_preview() -> object:
            return project.engine.query(f"SELECT * FROM {table} LIMIT 51")

        def raw_chart() -> object:
            return project.engine.query(f"SELECT country, SUM(amount) FROM {table} GROUP BY country ORDER BY country")

        def raw_kv() -> object:
            with open_store("embedded", root=project.root) as store:
                return overview(store)

        cases: list[tuple[str, str, Callable[[], object]]] = [
            ("runs list (page 1 of 10,000)", "/runs?page=1",
             lambda: (state.list_runs(limit=50), state.count_runs(), state.workflow_ids())),
            ("runs, filtered", "/runs?status=audit_failed&since=2024-03-01&until=2024-06-30&workflow=w07",
             lambda: state.list_runs(limit=50, status="audit_failed", workflow_id="w07", since="2024-03-01",
                                     until="2024-06-30")),
            ("run page (DAG, timeline, audits)", f"/runs/{failed}",
             lambda: (state.get_run(failed), state.stagings.of_run(failed))),
            ("step page", f"/runs/{failed}/steps/wap", lambda: state.get_run(failed)),
            ("date grid (20 workflows x 31 dates)", "/grid",
             lambda: (state.date_statuses(), [get_hwm(catalog, f"bench.t{i:03d}") for i in range(args.tables)])),
            ("tables list (100 tables)", "/tables", lambda: [describe(catalog, n) for n in catalog.list_tables()]),
            ("table page", f"/tables/{table}",
             lambda: (describe(catalog, table), history(catalog, table), partitions(project, table))),
            ("data preview (50 rows)", f"/tables/{table}/preview", raw_preview),
            ("chart (sum by country)", f"/tables/{table}/chart?x=country&aggregate=sum&y=amount", raw_chart),
            ("lineage graph (100 tables)", "/lineage", lambda: LineageGraph.from_state(state)),
            ("key-value", "/kv", raw_kv),
        ]
        rows, ready = [], {True: [], False: []}
        for name, path, raw in cases:
            baseline = measure(raw, args.repeat)
            html = server_ms(client, path, args.repeat, as_json=False)
            data = server_ms(client, path, args.repeat, as_json=True)
            firsts = {}
            for warm in (False, True):
                seconds, firsts[warm] = first_request(project.root, path, warm=warm)
                ready[warm].append(seconds)
            rows.append((name, path, baseline, html, data, firsts[False], firsts[True]))

    print(f"\n`towpath ui`: {args.runs:,} runs, {args.tables} tables x {args.snapshots} snapshots "
          f"(setup {setup_s:.0f}s); median of {args.repeat} warm requests, server time\n")
    print("| page | raw reads (ms) | HTML (ms) | JSON (ms) | HTML / raw | first request, no warm-up (ms) | "
          "first request (ms) | under 300 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, path, baseline, html, data, cold, first in rows:
        print(f"| {name} `{path.split('?')[0]}` | {baseline:.1f} | {html:.1f} | {data:.1f} | "
              f"{html / baseline if baseline else float('inf'):.2f}x | {cold:.0f} | {first:.0f} | "
              f"{'yes' if max(html, data, first) < 300 else 'NO'} |")
    print(f"\nA new console process's start to listening (median of {len(rows)}): "
          f"{statistics.median(ready[True]):.2f} s with the warm-up, {statistics.median(ready[False]):.2f} s without")


if __name__ == "__main__":
    main()
