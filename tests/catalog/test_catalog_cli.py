"""`towpath table ...` against a real project folder."""

from __future__ import annotations

import json
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
