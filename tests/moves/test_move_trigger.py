"""A daily with `trigger: {hwm_of: TABLE}` moves the table into the KV store whenever the table's mark advances."""

from __future__ import annotations

import datetime as dt
import textwrap

import pyarrow as pa
from move_helpers import PROFILES, move_file, profiles_project, store

from towpath.catalog.metadata import set_hwm
from towpath.project import Project
from towpath.workflows import SchedulerService
from towpath.workflows.scheduler import due_workflows

NOW = dt.datetime(2022, 1, 3, 7, 0, tzinfo=dt.UTC)


def fire_due(project: Project) -> list:
    """What is due at NOW, fired once (as `towpath schedule run --once` does)."""
    root = project.root
    return SchedulerService(project, lambda: Project(root), clock=lambda: NOW).run(once=True)


def test_a_triggered_daily_moves_each_new_snapshot_once(project: Project) -> None:
    profiles_project(project)
    kv_url = f"embedded:{project.root / 'kv'}"
    move_file(project, kv_url)
    (project.root / "main.sch.yaml").write_text(textwrap.dedent("""\
        id: profiles_kv
        type: main
        steps:
          - job:
              id: profiles_to_kv
              type: move
              file: profiles.move.yaml
    """))
    (project.root / "profiles.daily.sch.yaml").write_text(textwrap.dedent("""\
        id: profiles_kv_daily
        type: daily
        workflow: main.sch.yaml
        timezone: UTC
        trigger: {hwm_of: crm.profiles}
    """))

    assert due_workflows(project, NOW) == []  # the table has no mark yet: nothing moves
    assert fire_due(project) == [] and project.state.kv.versions("profiles") == []

    set_hwm(project.catalog, "crm.profiles", "2022-01-02")
    fired = fire_due(project)
    assert len(fired) == 1 and fired[0].ok
    first = project.state.kv.version("profiles", 1)
    snapshot = project.catalog.table("crm.profiles").current_snapshot()
    assert first.status == "online" and first.details["source"]["snapshot_id"] == snapshot.snapshot_id

    assert due_workflows(project, NOW) == []  # the mark did not move: no second move
    assert fire_due(project) == [] and len(project.state.kv.versions("profiles")) == 1

    project.catalog.write("crm.profiles", pa.table({
        "profile_id": pa.array([5], pa.int64()), "email": ["eve@example.com"], "age": pa.array([40], pa.int32()),
        "country": ["SE"],
    }))
    set_hwm(project.catalog, "crm.profiles", "2022-01-03")
    fired = fire_due(project)
    assert len(fired) == 1 and fired[0].ok
    second = project.state.kv.version("profiles", 2)
    newer = project.catalog.table("crm.profiles").current_snapshot()
    assert second.status == "online" and second.details["source"]["snapshot_id"] == newer.snapshot_id
    assert newer.snapshot_id != snapshot.snapshot_id
    with store(kv_url, project) as kv:
        assert kv.alias("profiles") == second.details["kv_namespace"]
        assert kv.count("profiles") == PROFILES.num_rows + 1
