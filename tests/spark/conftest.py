"""One SparkSession in `local[2]` for the whole folder, and projects whose engine is Spark.

Starting a JVM takes seconds, so the session is started once (session scope) and every
`SparkEngine` of the process reuses it: that is how the engine behaves in production too.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from towpath.config.project import SparkConfig
from towpath.project import Project
from towpath.samples import load_source_table

DATES = ["2022-01-01", "2022-01-02"]
ROWS_PER_DAY = 30_000
"""Sessions per day: a full top 100 in the big countries, small enough for a quick Spark run."""


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The process's shared SparkSession, in `local[2]`."""
    with warnings.catch_warnings():  # pyspark 4 warns at import that it has not caught up with pandas 3
        warnings.simplefilter("ignore", FutureWarning)
        from towpath.engines._spark_session import shared_session, stop_shared_session

        session = shared_session(SparkConfig(master="local[2]"))
    yield session
    stop_shared_session()


def make_project(root: Path, engine: str) -> Project:
    """A project on `engine` with `some_db.source_table` holding DATES of synthetic viewing data."""
    Project.init(root, name=root.name)
    (root / "towpath.yaml").write_text(f"engine:\n  type: {engine}\n  spark:\n    master: local[2]\n")
    project = Project(root)
    load_source_table(project, dates=DATES, rows_per_day=ROWS_PER_DAY)
    return project


@pytest.fixture
def spark_project(tmp_path: Path, spark: Any) -> Project:
    """A project with `engine: spark` and the sample's source table."""
    return make_project(tmp_path / "spark", "spark")
