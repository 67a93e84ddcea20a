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
    # A second write job stalls after the real write has landed on the WAP branch: the kill
    # comes when unaudited, unpublished data sits in the catalog.
    good = sample.read_text()
    (sample.parent / "stall.py").write_text("import time\n\ndef stall(ctx):\n    time.sleep(120)\n")
    sample.write_text(good.replace(
        "            script: src/sparksql_write.sql\n",
        "            script: src/sparksql_write.sql\n        - job: {id: stall, type: python, callable: 'stall.py:stall'}\n",
    ))

    proc = start_run(project, sample, "2022-01-02")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not wap_branch_written(project):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    assert proc.returncode == -signal.SIGKILL
    fresh = Project(project.root)
    assert wap_branch_written(fresh), "the kill did not land between the branch write and the publish"
    assert fresh.catalog.snapshot_id(RESULTS) == before_snapshot
    assert fresh.catalog.read(RESULTS).num_rows == before_rows
    [killed] = fresh.state.list_runs(status="killed")  # not `running` forever: its process is gone
    assert killed.execution_date == "2022-01-02" and "died" in (killed.error or "")
    assert [b.run_status for b in fresh.branches(RESULTS)] == ["killed"]
    sample.write_text(good)
    assert fresh.run(sample, date="2022-01-02").ok
    dates = pc.unique(fresh.catalog.read(RESULTS)["date"]).to_pylist()
    assert sorted(d.isoformat() for d in dates) == ["2022-01-01", "2022-01-02"]
    assert fresh.branches(RESULTS) == []  # the publish's housekeeping dropped the dead run's branch


def wap_branch_written(project: Project) -> bool:
    """Has a WAP branch of the results table got a snapshot of its own (written, not yet published)?"""
    from towpath.catalog.branches import list_branches

    branches = list_branches(project.catalog, RESULTS)
    return any(name != "main" and snap != branches.get("main") for name, snap in branches.items())


RENDEZVOUS = """
import pathlib, time

def meet(ctx):
    # Both runs have cut their branch from the same main and written it before either may publish.
    here = pathlib.Path(ctx.param("MEET_DIR"))
    (here / ctx.execution_date).write_text("written")
    deadline = time.monotonic() + 120
    while len(list(here.iterdir())) < 2:
        if time.monotonic() > deadline:
            raise RuntimeError("the other run never arrived")
        time.sleep(0.01)
"""


def test_two_concurrent_runs_on_the_same_table_race_and_both_land_without_lost_rows(project, sample, tmp_path):
    assert project.run(sample, date="2022-01-01").ok  # table exists before the race
    expected = {}
    for date in ("2022-01-02", "2022-01-03"):
        run = project.run(sample, date=date)
        expected[date] = run.jobs[2].rows_written
    project.catalog.write(RESULTS, project.catalog.read(RESULTS).slice(0, 0), "overwrite")  # empty it again
    meet = tmp_path / "meet"
    meet.mkdir()
    (sample.parent / "meet.py").write_text(RENDEZVOUS)
    sample.write_text(sample.read_text().replace(
        "            script: src/sparksql_write.sql\n",
        "            script: src/sparksql_write.sql\n"
        f"        - job: {{id: meet, type: python, callable: 'meet.py:meet', parameters: {{MEET_DIR: '{meet}'}}}}\n",
    ))

    runs = [start_run(project, sample, d) for d in ("2022-01-02", "2022-01-03")]
    outputs = [p.communicate(timeout=300) for p in runs]

    assert [p.returncode for p in runs] == [0, 0], outputs
    table = project.catalog.read(RESULTS)
    counts = Counter(d.isoformat() for d in table["date"].to_pylist())
    assert counts == expected
    # They raced: both wrote a branch cut from the same main, so exactly one found main moved and redid its attempt.
    raced = project.state.list_runs(limit=2)
    attempts = sorted(
        next(j for j in project.state.get_run(r.run_id).jobs if j.job_id == "wap").details["attempt"] for r in raced
    )
    assert attempts == [1, 2]
