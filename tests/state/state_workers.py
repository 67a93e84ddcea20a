"""Functions run in other processes by the state tests (spawned, so importable by name)."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any


def record_runs(location: str, workflow_id: str, count: int, barrier: Any) -> list[str]:
    """Record `count` runs, each with a job and an audit, as fast as possible."""
    from towpath.audits import AuditResult
    from towpath.state import StateStore

    store = StateStore(location)
    barrier.wait()
    ids = []
    for i in range(count):
        run_id = store.start_run(workflow_id, params={"i": str(i)}, execution_date=str(dt.date(2024, 1, 1) + dt.timedelta(i)))
        job = store.start_job(run_id, "write", "sql")
        store.record_audits(run_id, "write", [AuditResult("nn", "not_null", "db.t", True, True, 0, [], "ok", "SELECT 1")])
        store.finish_job(job, "success", rows_written=i, snapshots={"db.t": i})
        store.finish_run(run_id, "success")
        ids.append(run_id)
    return ids


if __name__ == "__main__":  # start a run and a job, print the run id, then wait to be killed
    from towpath.state import StateStore

    store = StateStore(sys.argv[1])
    run = store.start_run("doomed", execution_date="2024-01-01")
    store.start_job(run, "write", "sql")
    print(run, flush=True)
    sys.stdin.read()
