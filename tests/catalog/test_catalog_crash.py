"""Crashes and races: kill -9 mid-write leaves the last good snapshot; concurrent writers lose nothing."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
from pathlib import Path

import pytest
from catalog_data import day_rows
from catalog_workers import overwrite_date, write_then_stop_before_the_commit

from towpath.catalog import Catalog, history, remove_orphan_files

SPAWN = multiprocessing.get_context("spawn")
ROWS = 50_000


def _parquet_files(root: Path) -> set[str]:
    return {p.name for p in (root / ".towpath" / "warehouse").rglob("*.parquet")}


def _referenced_files(catalog: Catalog, identifier: str) -> set[str]:
    return {Path(path).name for path in catalog.plan_scan(identifier).files}


def kill_writer_mid_write(root: Path, results: str) -> None:
    """Start a writer, wait until its second write has put its data files down, and SIGKILL it there."""
    files_down = SPAWN.Event()
    writer = SPAWN.Process(target=write_then_stop_before_the_commit, args=(str(root), results, ROWS, files_down))
    writer.start()
    try:
        assert files_down.wait(120), "the writer never reached its second commit"
        os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        writer.join(10)
    finally:
        if writer.is_alive():
            writer.kill()
    assert writer.exitcode == -signal.SIGKILL


@pytest.mark.timeout(300)
def test_kill_9_during_a_write_keeps_the_previous_snapshot_readable(root: Path, catalog: Catalog, results: str) -> None:
    kill_writer_mid_write(root, results)

    head = catalog.table(results).current_snapshot()
    assert head is not None and head.summary is not None
    assert catalog.read(results).num_rows == int(head.summary["total-records"]) == ROWS  # only the committed write
    assert _parquet_files(root) - _referenced_files(catalog, results), "the killed write left no data files"
    assert len(history(catalog, results)) == 1

    # `table gc` removes what the killed write left, but only once it is older than the safety age
    left = _parquet_files(root) - _referenced_files(catalog, results)
    now = remove_orphan_files(catalog, results, dry_run=True)
    assert now.orphans == [] and now.too_new >= len(left)  # just written: could belong to a running commit
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=4)
    listed = remove_orphan_files(catalog, results, dry_run=True, at=later)
    assert left <= {Path(p).name for p in listed.orphans} and _parquet_files(root) >= left  # dry run removed nothing
    removed = remove_orphan_files(catalog, results, at=later)
    assert removed.orphans == listed.orphans
    assert _parquet_files(root) == _referenced_files(catalog, results)  # every referenced file is still there
    assert catalog.read(results).num_rows == ROWS

    catalog.write(results, day_rows("2024-02-02", 10))
    assert catalog.read(results).num_rows == ROWS + 10


@pytest.mark.timeout(120)
def test_concurrent_partition_overwrites_either_commit_or_conflict_and_lose_nothing(
    root: Path, catalog: Catalog, results: str
) -> None:
    catalog.write(results, day_rows("2024-03-01", 100))
    barrier = SPAWN.Barrier(2)
    out = SPAWN.Queue()
    days = {"2024-03-02": 2_000, "2024-03-03": 3_000}
    workers = [
        SPAWN.Process(target=overwrite_date, args=(str(root), results, day, n, barrier, out)) for day, n in days.items()
    ]
    for worker in workers:
        worker.start()
    outcomes = dict(out.get(timeout=100) for _ in workers)
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert set(outcomes) == set(days)
    assert set(outcomes.values()) <= {"ok", "conflict-then-ok"}

    by_date = catalog.read(results).group_by("date").aggregate([("title_id", "count")]).to_pylist()
    counts = {row["date"].isoformat(): row["title_id_count"] for row in by_date}
    assert counts == {"2024-03-01": 100, **days}

    # A rerun of a date is idempotent: the partition is replaced, not appended to.
    catalog.write(results, day_rows("2024-03-02", 2_000), "dynamic_overwrite")
    assert catalog.read(results).num_rows == 5_100
