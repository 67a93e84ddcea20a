"""One SparkSession in `local[2]` for the whole folder, and projects whose engine is Spark.

Starting a JVM takes seconds, so the session is started once (session scope) and every
`SparkEngine` of the process reuses it: that is how the engine behaves in production too.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from spark_projects import make_project

from towpath.config.project import SparkConfig
from towpath.project import Project


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The process's shared SparkSession, in `local[2]`."""
    with warnings.catch_warnings():  # pyspark 4 warns at import that it has not caught up with pandas 3
        warnings.simplefilter("ignore", FutureWarning)
        from towpath.engines._spark_session import shared_session, stop_shared_session

        session = shared_session(SparkConfig(master="local[2]"))
    yield session
    stop_shared_session()


@pytest.fixture
def spark_project(tmp_path: Path, spark: Any) -> Project:
    """A project with `engine: spark` and the sample's source table."""
    return make_project(tmp_path / "spark", "spark")
