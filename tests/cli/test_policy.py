"""The CLI keeps no policy of its own: what a command does by default is the project's setting."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from cli_helpers import towpath

from towpath.catalog import apply_ddl
from towpath.project import Project


def test_table_expire_defaults_to_the_projects_snapshot_retention(tmp_path: Path) -> None:
    project = Project.init(tmp_path / "p")
    config = project.root / "towpath.yaml"
    config.write_text(config.read_text() + "snapshot_retention:\n  max_age: 0s\n  retain_last: 2\n")
    project = Project(project.root)
    apply_ddl(project.catalog, "CREATE TABLE IF NOT EXISTS db.t (id INT) STORED AS ICEBERG;")
    snapshots = [project.catalog.write("db.t", pa.table({"id": pa.array([i], pa.int32())}), mode="append")
                 for i in range(4)]

    result = towpath("-C", project.root, "table", "expire", "db.t", "--json")

    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.stdout)["expired"]) == sorted(snapshots[:2])
