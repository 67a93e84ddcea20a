"""Fixtures for workflow tests: a fresh project with the sample recipe and a small source table."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from towpath.project import Project
from towpath.samples import load_source_table, recipe_path

SMALL_ROWS = 30_000
"""Sessions per day: enough for a top 100 in every one of the 190 countries, small enough to be quick."""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """An empty project with the embedded defaults (SQLite catalog, local warehouse, DuckDB)."""
    return Project.init(tmp_path / "proj", name="test")


@pytest.fixture
def sample(project: Project) -> Path:
    """The Spark SQL sample recipe copied into the project, with 3 days of source data."""
    folder = project.root / "sample"
    shutil.copytree(recipe_path("spark-sql"), folder)
    load_source_table(project, dates=["2022-01-01", "2022-01-02", "2022-01-03"], rows_per_day=SMALL_ROWS)
    return folder / "main.sch.yaml"


@pytest.fixture
def write_workflow(project: Project) -> Callable[..., Path]:
    """Write a workflow file (and any scripts) into the project; returns the workflow path."""

    def write(text: str, name: str = "wf.sch.yaml", files: dict[str, str] | None = None) -> Path:
        for rel, content in (files or {}).items():
            target = project.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        path = project.root / name
        path.write_text(text)
        return path

    return write
