"""kill -9 in the middle of a run, and two runs writing the same table at the same time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc

from towpath.project import Project

RESULTS = "foo.dataflow_sample_results"

RUN = """
import sys
from towpath.project import Project
result = Project(sys.argv[1]).run(sys.argv[2], date=sys.argv[3])
print(result.status, result.error or "")
sys.exit(0 if result.ok else 1)
"""


def start_run(project: Project, workflow: Path, date: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUN, str(project.root), str(workflow), date],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_kill_9_mid_run_leaves_the_last_good_state_and_the_next_run_succeeds(project, sample):
    assert project.run(sample, date="2022-01-01").ok
    before_snapshot = project.catalog.snapshot_id(RESULTS)
    before_rows = project.catalog.read(RESULTS).num_rows
    # Make the write slow enough to be killed in the middle of it.
    script = sample.parent / "src" / "sparksql_write.sql"
    good = script.read_text()
    script.write_text(good.replace("FROM ${SOURCE_TABLE}", "FROM ${SOURCE_TABLE}, range(60) AS slow(i)"))

    proc = start_run(project, sample, "2022-01-02")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the run is recorded as started, then kill it
        if project.state.list_runs(status="running"):
            break
        time.sleep(0.05)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    assert proc.returncode == -signal.SIGKILL
    fresh = Project(project.root)
    assert fresh.catalog.snapshot_id(RESULTS) == before_snapshot
    assert fresh.catalog.read(RESULTS).num_rows == before_rows
    script.write_text(good)
    assert fresh.run(sample, date="2022-01-02").ok
    dates = pc.unique(fresh.catalog.read(RESULTS)["date"]).to_pylist()
    assert sorted(d.isoformat() for d in dates) == ["2022-01-01", "2022-01-02"]


def test_two_concurrent_runs_on_the_same_table_both_land_without_lost_rows(project, sample):
    assert project.run(sample, date="2022-01-01").ok  # table exists before the race
    expected = {}
    for date in ("2022-01-02", "2022-01-03"):
        run = project.run(sample, date=date)
        expected[date] = run.jobs[2].rows_written
    project.catalog.write(RESULTS, project.catalog.read(RESULTS).slice(0, 0), "overwrite")  # empty it again

    runs = [start_run(project, sample, d) for d in ("2022-01-02", "2022-01-03")]
    outputs = [p.communicate(timeout=300) for p in runs]

    statuses = [p.returncode for p in runs]
    assert statuses == [0, 0], outputs
    table = project.catalog.read(RESULTS)
    counts = Counter(d.isoformat() for d in table["date"].to_pylist())
    assert counts == expected
