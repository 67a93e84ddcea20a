"""Projects whose engine is Spark or DuckDB, with the sample's synthetic source table."""

from __future__ import annotations

from pathlib import Path

from towpath.project import Project
from towpath.samples import load_source_table

DATES = ["2022-01-01", "2022-01-02"]
ROWS_PER_DAY = 30_000
"""Sessions per day: a full top 100 in the big countries, small enough for a quick Spark run."""


def make_project(root: Path, engine: str) -> Project:
    """A project on `engine` with `some_db.source_table` holding DATES of synthetic viewing data."""
    Project.init(root, name=root.name)
    (root / "towpath.yaml").write_text(f"engine:\n  type: {engine}\n  spark:\n    master: local[2]\n")
    project = Project(root)
    load_source_table(project, dates=DATES, rows_per_day=ROWS_PER_DAY)
    return project
