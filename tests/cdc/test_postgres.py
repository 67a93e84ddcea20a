"""CDC from PostgreSQL (pgoutput) into an Iceberg table and a search index, against a real server."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psycopg
import pytest
from cdc_case import CdcCase, Writer, assert_targets_equal_source, kill_mid_stream, seed

import services
from towpath.cdc import CdcResult, SchemaChangeError, SlotLostError, SourceError, load_cdc_spec, run_cdc
from towpath.project import Project


def run(case: CdcCase, *, until_caught_up: bool = False, max_seconds: float | None = None,
        resnapshot: bool = False) -> CdcResult:
    project = Project(case.project.root)
    return run_cdc(load_cdc_spec(case.spec), catalog=project.catalog, root=project.root,
                   until_caught_up=until_caught_up, max_seconds=max_seconds, resnapshot=resnapshot)


def test_snapshot_then_stream_while_writes_continue(cdc_case: CdcCase) -> None:
    seed(cdc_case, 150)
    writer = Writer(cdc_case)
    writer.start()
    try:
        first = run(cdc_case, max_seconds=2)
        assert first.snapshotted and first.snapshot_rows > 100
    finally:
        writer.stop.set()
        writer.join()
    assert writer.transactions > 10
    last = run(cdc_case, until_caught_up=True)
    assert last.caught_up and not last.snapshotted
    assert_targets_equal_source(cdc_case)
    # The slot moved up to what was applied: the source keeps no WAL the targets already have.
    table = Project(cdc_case.project.root).catalog.table(f"lake.{cdc_case.name}")
    assert cdc_case.slot_flushed() is not None
    summary = table.current_snapshot().summary  # type: ignore[union-attr]
    assert summary is not None and "towpath.cdc.position" in summary.additional_properties


def test_kill_9_during_apply_several_times_then_restart(cdc_case: CdcCase) -> None:
    seed(cdc_case, 100)
    writer = Writer(cdc_case, seed=11)
    writer.start()
    try:
        kill_mid_stream(cdc_case)
    finally:
        writer.stop.set()
        writer.join()
    status = cdc_case.cli("cdc", "status", str(cdc_case.spec), "--json")
    assert '"state": "killed"' in status.stdout
    cdc_case.cli("cdc", "run", str(cdc_case.spec), "--until-caught-up")
    assert_targets_equal_source(cdc_case)


def test_kill_9_during_compaction_then_restart(cdc_case: CdcCase, tmp_path: Path) -> None:
    """Compaction every K batches runs after the batch's commit: killed inside it, nothing applied is lost."""
    cdc_case.spec.write_text(cdc_case.spec.read_text().replace("compact_every: 5", "compact_every: 3, "
                                                                                    "compact_min_files: 2"))
    seed(cdc_case, 100)
    run(cdc_case, until_caught_up=True)
    marker = tmp_path / "paused"
    writer = Writer(cdc_case, seed=23, growing=True)  # new keys: each batch adds a file in the partitions
    writer.start()
    try:
        proc = cdc_case.popen("cdc", "run", str(cdc_case.spec),
                              env={"TOWPATH_DEBUG_PAUSE": "during-compaction", "TOWPATH_DEBUG_PAUSE_FILE": str(marker)})
        deadline = time.monotonic() + 240
        while not marker.exists():  # three batches applied, the compaction's rewrite written, not committed
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the job never reached its compaction"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        writer.stop.set()
        writer.join()
    table = Project(cdc_case.project.root).catalog.table(f"lake.{cdc_case.name}")
    compactions = [s for s in table.snapshots() if s.summary is not None
                   and "towpath.cdc.position" not in s.summary.additional_properties]
    assert compactions == []  # every snapshot is a load or a batch (with its position): the compaction never committed
    cdc_case.spec.write_text(cdc_case.spec.read_text().replace("compact_every: 3", "compact_every: 1"))
    cdc_case.cli("cdc", "run", str(cdc_case.spec), "--until-caught-up")
    assert_targets_equal_source(cdc_case)
    table = Project(cdc_case.project.root).catalog.table(f"lake.{cdc_case.name}")
    compacted = [s for s in table.snapshots() if s.summary is not None and s.summary.operation.value == "overwrite"
                 and "towpath.cdc.position" not in s.summary.additional_properties]
    assert compacted, "the restarted job compacted"


def test_many_updates_of_one_key_in_one_batch_last_write_wins(cdc_case: CdcCase) -> None:
    seed(cdc_case, 5)
    run(cdc_case, until_caught_up=True)
    with psycopg.connect(cdc_case.server.dsn) as conn:
        for i in range(300):
            conn.execute(f"UPDATE {cdc_case.name} SET score = %s, name = %s WHERE id = 1", (i, f"v{i}"))
        conn.execute(f"DELETE FROM {cdc_case.name} WHERE id = 2")
        conn.execute(f"INSERT INTO {cdc_case.name} (id, name) VALUES (2, 'back')")
        conn.execute(f"UPDATE {cdc_case.name} SET name = 'again' WHERE id = 2")
        conn.commit()
    result = run(cdc_case, until_caught_up=True)
    assert result.received == 303 and result.changes == 2 and result.batches == 1
    assert cdc_case.lake_rows()[1]["name"] == "v299" and cdc_case.lake_rows()[2]["name"] == "again"
    assert_targets_equal_source(cdc_case)


def test_long_transaction_is_applied_across_batches_exactly_once(cdc_case: CdcCase) -> None:
    run(cdc_case, until_caught_up=True)
    cdc_case.sql(f"INSERT INTO {cdc_case.name} (id, name) SELECT g, 'bulk ' || g FROM generate_series(1, 2600) g")
    spec = load_cdc_spec(cdc_case.spec)
    project = Project(cdc_case.project.root)
    result = run_cdc(spec, catalog=project.catalog, root=project.root, until_caught_up=True)
    assert result.batches >= 5  # max_rows 500: the one transaction spans batches, each its own commit
    assert_targets_equal_source(cdc_case)
    again = run(cdc_case, until_caught_up=True)
    assert again.changes == 0


def test_source_restart_mid_stream_then_resume(cdc_case: CdcCase) -> None:
    seed(cdc_case, 50)
    run(cdc_case, until_caught_up=True)
    proc = cdc_case.popen("cdc", "run", str(cdc_case.spec))
    cdc_case.sql(f"UPDATE {cdc_case.name} SET name = 'before restart' WHERE id <= 10")
    while cdc_case.report().get("pid") != proc.pid or cdc_case.report().get("changes", 0) < 10:
        assert proc.poll() is None, proc.communicate()
    services.restart_postgres(cdc_case.server)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "went away" in err and "resume" in err, err
    cdc_case.sql(f"UPDATE {cdc_case.name} SET name = 'after restart' WHERE id > 40")
    run(cdc_case, until_caught_up=True)
    assert_targets_equal_source(cdc_case)


def test_lost_slot_is_detected_with_the_resnapshot_command(cdc_case: CdcCase) -> None:
    seed(cdc_case, 20)
    run(cdc_case, until_caught_up=True)
    cdc_case.sql(f"SELECT pg_drop_replication_slot('towpath_{cdc_case.name}')")
    cdc_case.sql(f"DELETE FROM {cdc_case.name} WHERE id <= 5")
    with pytest.raises(SlotLostError, match="no longer exists") as err:
        run(cdc_case, until_caught_up=True)
    assert f"towpath cdc run {cdc_case.spec} --resnapshot" in str(err.value)
    proc = cdc_case.cli("cdc", "run", str(cdc_case.spec), "--until-caught-up", check=False)
    assert proc.returncode == 1 and "--resnapshot" in proc.stderr and "Traceback" not in proc.stderr
    status = cdc_case.cli("cdc", "status", str(cdc_case.spec))
    assert "--resnapshot" in status.stdout
    assert run(cdc_case, until_caught_up=True, resnapshot=True).snapshotted
    assert_targets_equal_source(cdc_case)


def test_added_column_evolves_targets_dropped_column_stops_with_position(cdc_case: CdcCase) -> None:
    seed(cdc_case, 10)
    run(cdc_case, until_caught_up=True)
    cdc_case.sql(f"ALTER TABLE {cdc_case.name} ADD COLUMN plan text",
                 f"UPDATE {cdc_case.name} SET plan = 'gold' WHERE id = 3")
    run(cdc_case, until_caught_up=True)
    assert cdc_case.lake_rows()[3]["plan"] == "gold" and cdc_case.lake_rows()[4]["plan"] is None
    assert cdc_case.search_rows()[3]["plan"] == "gold"
    position = cdc_case.cli("cdc", "status", str(cdc_case.spec), "--json").stdout
    cdc_case.sql(f"ALTER TABLE {cdc_case.name} DROP COLUMN city", f"UPDATE {cdc_case.name} SET name = 'x' WHERE id = 1")
    with pytest.raises(SchemaChangeError, match="column city was dropped") as err:
        run(cdc_case, until_caught_up=True)
    assert "every target is at" in str(err.value)
    assert cdc_case.lake_rows()[1]["name"] == "patient 1"  # nothing past the change was applied
    assert position  # the status before the stop still reads


def test_wal_level_replica_is_refused_clearly(postgres_server: services.PostgresServer, tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    Project.init(root / "p")
    spec = root / "p" / "x.cdc.yaml"
    spec.write_text(f"name: x\nsource: {{type: postgres, dsn: '{postgres_server.dsn}', table: t}}\n"
                    "targets: [{type: search, index: x}]\n")
    with pytest.raises(SourceError, match="wal_level=logical"):
        run_cdc(load_cdc_spec(spec), catalog=Project(root / "p").catalog, root=root / "p")


def test_cdc_job_catches_the_lake_up_before_the_next_step(cdc_case: CdcCase) -> None:
    seed(cdc_case, 30)
    project = Project(cdc_case.project.root)
    run(cdc_case, until_caught_up=True)
    cdc_case.sql(f"UPDATE {cdc_case.name} SET city = 'Denver' WHERE id <= 4")
    flow = cdc_case.project.root / "catch_up.sch.yaml"
    flow.write_text(
        "id: catch_up\nsteps:\n"
        f"  - job: {{id: sync, type: cdc, spec: {cdc_case.spec.name}}}\n"
        f"  - job: {{id: denver, type: sql, sql: \"CREATE TABLE IF NOT EXISTS lake.{cdc_case.name}_denver (id INT); "
        f"INSERT OVERWRITE lake.{cdc_case.name}_denver SELECT id FROM lake.{cdc_case.name} WHERE city = 'Denver'\"}}\n")
    result = project.run(flow, date="2026-12-01")
    assert result.ok, result.error
    assert result.jobs[0].details["changes"] == 4
    assert sorted(project.catalog.read(f"lake.{cdc_case.name}_denver")["id"].to_pylist()) == [1, 2, 3, 4]
    bad = cdc_case.project.root / "bad.sch.yaml"
    bad.write_text("id: bad\nsteps:\n  - job: {id: sync, type: cdc, spec: missing.cdc.yaml}\n")
    from towpath.errors import SpecError

    with pytest.raises(SpecError, match=r"bad.sch.yaml:3.*no CDC spec"):
        project.run(bad, date="2026-12-01")
