"""When a table sink compacts: by the table's clock (`compaction.interval`), by window count (`every`), and
snapshot expiry in between; no broker needed (windows are committed straight to the sink)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
import yaml

from towpath.catalog import last_compacted
from towpath.errors import SpecError
from towpath.project import Project
from towpath.streaming import load_stream_spec
from towpath.streaming.sinks import DEAD_LETTER_SCHEMA, EXPIRE_EVERY, TableSink, open_sink


def sink(project: Project, **compaction: Any) -> TableSink:
    path = project.root / "s.stream.yaml"
    path.write_text(yaml.safe_dump({
        "name": "s", "source": {"bootstrap_servers": "127.0.0.1:1", "topics": ["t"]},
        "sink": {"table": "lake.s"}, **({"compaction": compaction} if compaction else {}),
    }))
    opened = open_sink(load_stream_spec(path), project.root, project.catalog, project.state)
    assert isinstance(opened, TableSink)
    return opened


def commit(target: TableSink, n: int) -> None:
    """Window `n` (1-based) of 2 rows on partition t/0."""
    if not target.exists():
        target.create(pa.schema([("id", pa.int64())]))
    rows = pa.table({"id": pa.array([2 * n, 2 * n + 1], pa.int64())})
    before = {"t/0": 2 * (n - 1)} if n > 1 else {"t/0": None}
    target.commit(f"window-{n}", rows, DEAD_LETTER_SCHEMA.empty_table(), {"t/0": 2 * (n - 1)}, before, {"t/0": 2 * n})


def test_by_default_a_fresh_table_is_not_compacted_before_the_interval(project: Project) -> None:
    target = sink(project)
    assert target.spec.compaction.interval == "10m" and target.spec.compaction.every is None
    for n in range(1, 4):
        commit(target, n)
        assert not target.maintenance_due(n)


def test_the_interval_runs_from_the_tables_last_compaction(project: Project) -> None:
    target = sink(project, interval="0s")
    for n in range(1, 3):
        commit(target, n)
    assert target.maintenance_due(2)
    assert target.maintain()  # compacted: the two small files become one
    stamp = last_compacted(project.catalog, "lake.s")
    assert stamp is not None
    assert len(list(project.catalog.table("lake.s").scan().plan_files())) == 1
    slow = sink(project, interval="1h")  # a new run reads the last compaction from the table
    commit(slow, 3)
    assert not slow.maintenance_due(1)


def test_every_counts_windows_and_expiry_runs_alone_in_between(project: Project) -> None:
    target = sink(project, interval=None, every=3)
    for n in range(1, 8):
        commit(target, n)
        assert target.maintenance_due(n) == (n % 3 == 0)
    assert EXPIRE_EVERY % 3 and target.maintenance_due(EXPIRE_EVERY)
    assert not target.maintain()  # not a multiple of 3: expiry only, no compaction
    assert len(project.catalog.table("lake.s").snapshots()) == 5
    assert len(list(project.catalog.table("lake.s").scan().plan_files())) == 7
    assert project.catalog.read("lake.s").num_rows == 14


def test_disabled_compaction_does_nothing_and_a_bad_interval_is_a_spec_error(project: Project) -> None:
    target = sink(project, enabled=False, every=1)
    commit(target, 1)
    assert not target.maintenance_due(1)
    with pytest.raises(SpecError, match="interval"):
        sink(project, interval="soon")
