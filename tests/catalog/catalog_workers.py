"""Code run in child processes by the catalog tests (spawned, so it must be importable)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any


def write_big_forever(root: str, identifier: str, rows: int) -> None:
    """Append `rows`-row batches to the table until killed."""
    from catalog_data import day_rows, open_catalog

    catalog = open_catalog(Path(root))
    data = day_rows("2024-02-01", rows)
    while True:
        catalog.write(identifier, data)


def overwrite_date(root: str, identifier: str, day: str, rows: int, barrier: Any, out: Any) -> None:
    """Wait for the other writer, dynamic-overwrite `day`; on ConflictError report it and retry once."""
    from catalog_data import day_rows, open_catalog

    from towpath.errors import ConflictError

    catalog = open_catalog(Path(root))
    data = day_rows(day, rows)
    barrier.wait()
    try:
        catalog.write(identifier, data, "dynamic_overwrite")
        out.put((day, "ok"))
    except ConflictError:
        catalog.write(identifier, data, "dynamic_overwrite")
        out.put((day, "conflict-then-ok"))


def record_runs(path: str, workflow_id: str, count: int, barrier: Any) -> list[str]:
    """Record `count` runs, each with a job and an audit, as fast as possible."""
    from towpath.catalog import AuditRecord, RunStore

    store = RunStore(Path(path))
    barrier.wait()
    ids = []
    for i in range(count):
        run_id = store.start_run(workflow_id, params={"i": str(i)}, execution_date=str(dt.date(2024, 1, 1) + dt.timedelta(i)))
        job = store.start_job(run_id, "write", "sql")
        store.record_audit(run_id, "write", AuditRecord("nn", "not_null", "db.t", True, True, 0, [], "ok"))
        store.finish_job(job, "success", rows_written=i, snapshots={"db.t": i})
        store.finish_run(run_id, "success")
        ids.append(run_id)
    return ids
