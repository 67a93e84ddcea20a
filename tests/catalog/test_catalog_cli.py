"""`towpath table ...` against a real project folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from catalog_data import RESULTS, SEED_DDL, day_rows
from click.testing import CliRunner, Result

from towpath.catalog import apply_ddl, get_hwm, set_hwm, set_metadata
from towpath.cli.main import cli
from towpath.project import Project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project.init(tmp_path / "proj", name="cli")
    apply_ddl(project.catalog, SEED_DDL)
    return project


def invoke(project: Project, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(project.root), "table", *args])


def test_list_shows_every_table(project: Project) -> None:
    project.catalog.write(RESULTS, day_rows("2024-01-01", 4))
    result = invoke(project, "list", "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["table"], row["rows"]) == (RESULTS, 4)
    assert row["snapshot"] == project.catalog.snapshot_id(RESULTS)
    text = invoke(project, "list")
    assert text.exit_code == 0 and "dataflow_sample_results" in text.output


def test_show_prints_schema_comments_kinds_partitioning_and_state(project: Project) -> None:
    project.catalog.write(RESULTS, day_rows("2024-01-01", 4))
    set_metadata(project.catalog, RESULTS, owner="content", tags=["daily"], lifetime_days=90,
                 column_types={"title_id": "pk"})
    set_hwm(project.catalog, RESULTS, "2024-01-01")
    data = json.loads(invoke(project, "show", RESULTS, "--json").output)
    assert data["partition_spec"] == ["date (identity)"]
    assert data["columns"][0] == {"name": "title_id", "type": "int", "required": False,
                                  "doc": "Title ID of the movie or show.", "column_type": "pk"}
    assert data["metadata"]["owner"] == "content" and data["metadata"]["lifetime_days"] == 90
    assert data["row_count"] == 4 and data["hwm"] == "2024-01-01T00:00:00+00:00"
    assert list(data["branches"]) == ["main"]

    text = CliRunner().invoke(cli, ["-C", str(project.root), "table", "show", RESULTS], terminal_width=200)
    assert text.exit_code == 0, text.output
    for expected in ["date (identity)", "content", "90 days", "2024-01-01T00:00:00+00:00",
                     "Title ID of the movie or show.", "pk", "Example dataset brought to you by Dataflow"]:
        assert expected in text.output


def test_history_and_rollback(project: Project) -> None:
    first = project.catalog.write(RESULTS, day_rows("2024-01-01", 4))
    second = project.catalog.write(RESULTS, day_rows("2024-01-02", 6))
    snapshots = json.loads(invoke(project, "history", RESULTS, "--json").output)
    assert [s["snapshot_id"] for s in snapshots] == [second, first]
    assert snapshots[0]["is_current"] and snapshots[0]["refs"] == ["main"]

    result = invoke(project, "rollback", RESULTS, "--to", str(first))
    assert result.exit_code == 0 and f"main is now at snapshot {first}" in result.output
    assert project.catalog.snapshot_id(RESULTS) == first
    assert project.catalog.read(RESULTS).num_rows == 4

    bad = invoke(project, "rollback", RESULTS, "--to", "123")
    assert bad.exit_code == 1 and "no snapshot 123" in bad.stderr


def test_hwm_show_and_set(project: Project) -> None:
    assert json.loads(invoke(project, "hwm", RESULTS, "--json").output)["hwm"] is None
    result = invoke(project, "hwm", RESULTS, "--set", "2024-05-01", "--timezone", "Asia/Kolkata", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["hwm"] == "2024-05-01T00:00:00+05:30"
    stored = get_hwm(project.catalog, RESULTS)
    assert stored is not None and stored.isoformat() == "2024-05-01T00:00:00+05:30"
    assert "2024-05-01T00:00:00+05:30" in invoke(project, "hwm", RESULTS).output


def test_unknown_table_suggests_the_close_name(project: Project) -> None:
    result = invoke(project, "show", "foo.dataflow_sample_result", "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert error["type"] == "TableNotFoundError" and error["suggestions"] == ["foo.dataflow_sample_results"]
    assert "Did you mean 'foo.dataflow_sample_results'" in error["error"]


def test_hwm_set_refuses_to_move_back_without_force(project: Project) -> None:
    assert invoke(project, "hwm", RESULTS, "--set", "2024-05-03").exit_code == 0
    back = invoke(project, "hwm", RESULTS, "--set", "2024-05-01", "--json")
    error = json.loads(back.stdout)["error"]
    assert back.exit_code == 1 and "marks only move forward" in error and "--force" in error
    assert get_hwm(project.catalog, RESULTS).date().isoformat() == "2024-05-03"  # type: ignore[union-attr]
    forced = invoke(project, "hwm", RESULTS, "--set", "2024-05-01", "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.output)["previous"] == "2024-05-03T00:00:00+00:00"
    assert get_hwm(project.catalog, RESULTS).date().isoformat() == "2024-05-01"  # type: ignore[union-attr]


def test_rollback_restores_the_mark_or_keeps_it(project: Project) -> None:
    first = project.catalog.write(RESULTS, day_rows("2024-01-01", 4))
    set_hwm(project.catalog, RESULTS, "2024-01-01")
    project.catalog.write(RESULTS, day_rows("2024-01-02", 6))
    set_hwm(project.catalog, RESULTS, "2024-01-02")
    kept = invoke(project, "rollback", RESULTS, "--to", str(first), "--hwm", "keep", "--json")
    assert kept.exit_code == 0 and json.loads(kept.output)["hwm_after"] == "2024-01-02T00:00:00+00:00"
    project.catalog.write(RESULTS, day_rows("2024-01-03", 1))  # main moves on from the rolled-back head
    restored = invoke(project, "rollback", RESULTS, "--to", str(first))
    assert restored.exit_code == 0, restored.output
    assert "high-water mark moved back to 2024-01-01T00:00:00+00:00" in " ".join(restored.output.split())
    assert get_hwm(project.catalog, RESULTS).date().isoformat() == "2024-01-01"  # type: ignore[union-attr]


def test_expire_takes_the_projects_retention_by_default(project: Project) -> None:
    for day in range(1, 13):
        project.catalog.write(RESULTS, day_rows(f"2024-01-{day:02d}", 1))
    (project.root / "towpath.yaml").write_text("snapshot_retention: {max_age: 0s, retain_last: 10}\n")
    result = invoke(project, "expire", RESULTS, "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["expired"]) == 2  # 12 snapshots, the project keeps the last 10
    assert len(json.loads(invoke(project, "history", RESULTS, "--json").output)) == 10


def test_branches_lists_drops_and_ages_out_wap_branches(project: Project) -> None:
    from towpath.catalog import create_branch, list_branches

    project.catalog.write(RESULTS, day_rows("2024-01-01", 4))
    run_id = project.state.start_run("wf")
    project.state.stagings.record("iceberg-branch", RESULTS, "wap_kept", run_id=run_id, job_id="wap", attempt=1)
    create_branch(project.catalog, RESULTS, "wap_kept")
    project.state.stagings.mark("iceberg-branch", RESULTS, "wap_kept", "kept", "audit not_null failed")
    project.state.finish_run(run_id, "audit_failed")
    create_branch(project.catalog, RESULTS, "wap_stray")  # no record: left by an older towpath

    listed = json.loads(invoke(project, "branches", RESULTS, "--json").output)
    by_name = {b["name"]: b for b in listed["branches"]}
    assert set(by_name) == {"wap_kept", "wap_stray"}
    assert (by_name["wap_kept"]["run_id"], by_name["wap_kept"]["run_status"]) == (run_id, "audit_failed")
    assert by_name["wap_kept"]["reason"] == "audit not_null failed" and by_name["wap_kept"]["age_s"] >= 0
    text = invoke(project, "branches", RESULTS)
    assert text.exit_code == 0 and "wap_kept" in text.output and "wap_stray" in text.output

    assert invoke(project, "branches", RESULTS, "--older-than", "7d").output.count("dropped 0") == 1
    dropped = invoke(project, "branches", RESULTS, "--drop", "wap_stray", "--json")
    assert json.loads(dropped.output)["dropped"] == ["wap_stray"]
    assert set(list_branches(project.catalog, RESULTS)) == {"main", "wap_kept"}
    missing = invoke(project, "branches", RESULTS, "--drop", "nope", "--json")
    assert missing.exit_code == 1 and "has no branch 'nope'" in json.loads(missing.stdout)["error"]


def test_gc_dry_run_lists_orphans_and_keeps_referenced_files(project: Project) -> None:
    project.catalog.write(RESULTS, day_rows("2024-01-01", 4))
    location = Path(project.catalog.table(RESULTS).location().removeprefix("file://"))
    stray = location / "data" / "date=2024-01-01" / "left-by-a-killed-run.parquet"
    stray.write_bytes(b"PAR1")
    os.utime(stray, (1_000_000_000, 1_000_000_000))  # 2001: far older than any safety age
    listed = json.loads(invoke(project, "gc", RESULTS, "--dry-run", "--json").output)
    assert listed["orphans"] == [str(stray)] and not listed["removed"] and stray.exists()
    done = invoke(project, "gc", RESULTS)
    assert done.exit_code == 0 and "removed 1 orphaned file" in done.output
    assert not stray.exists() and project.catalog.read(RESULTS).num_rows == 4
    too_young = invoke(project, "gc", RESULTS, "--older-than", "10m", "--json")
    assert too_young.exit_code == 1 and "at least 1h" in json.loads(too_young.stdout)["error"]


def test_compact_merges_small_files_of_a_partition(project: Project) -> None:
    for n in range(3):
        project.catalog.write(RESULTS, day_rows("2024-01-01", 2, start=n * 2))
    project.catalog.write(RESULTS, day_rows("2024-01-02", 2))
    data = json.loads(invoke(project, "compact", RESULTS, "--partition", "date=2024-01-01", "--json").output)
    assert [(p["partition"], p["files_before"], p["files_after"], p["rows"]) for p in data["partitions"]] == [
        ("date=2024-01-01", 3, 1, 6)
    ]
    assert project.catalog.read(RESULTS).num_rows == 8
    text = invoke(project, "compact", RESULTS)
    assert text.exit_code == 0 and "no partition has small files" in text.output
    bad = invoke(project, "compact", RESULTS, "--partition", "date=1999-01-01")
    assert bad.exit_code == 1 and "has no partition date=1999-01-01" in bad.output
