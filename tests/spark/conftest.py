"""Projects whose engine is Spark, on the session's one SparkSession (`spark` in tests/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from spark_projects import make_project

from towpath.project import Project


@pytest.fixture
def spark_project(tmp_path: Path, spark: Any) -> Project:
    """A project with `engine: spark` and the sample's source table."""
    return make_project(tmp_path / "spark", "spark")
