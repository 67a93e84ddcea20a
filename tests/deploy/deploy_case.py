"""Helpers of the deploy tests: git, and what production holds (to compare before and after)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from towpath.environment import split_identifier
from towpath.project import Project

RESULTS = "sample_root.dataflow_sql_sample_results"
SOURCE = "sample_root.dataflow_sql_sample_source"
ROWS_PER_DAY = 600


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-q", "-m", message)


def production_state(project: Project) -> dict[str, tuple[str, int | None, str | None]]:
    """Every production table -> (metadata file, main's head, high-water mark): any commit changes the file."""
    catalog = Project(project.root, env="main").catalog
    locations = catalog.metadata_locations() or {}
    out = {}
    for physical, location in sorted(locations.items()):
        if split_identifier(physical)[1] is None:
            table = catalog.table(physical)
            head = table.snapshot_by_name("main")
            out[physical] = (location, head.snapshot_id if head else None, table.properties.get("towpath.hwm"))
    return out


def rows_by_date(project: Project, table: str = RESULTS) -> dict[str, int]:
    data = project.catalog.read(table)
    counts = data.group_by("date").aggregate([([], "count_all")]).to_pylist()
    return {str(r["date"]): int(r["count_all"]) for r in counts}
