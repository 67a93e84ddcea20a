"""Fixtures of the Airflow tests: Apache Airflow in its own cached venv, and a DAG driver per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_project import RunDags, drive
from airflow_venv import AirflowVenv, airflow_venv


@pytest.fixture(scope="session")
def venv() -> AirflowVenv:
    """Apache Airflow's own venv (installed from PyPI on the first run, then cached)."""
    built = airflow_venv()
    print(f"\nAirflow venv {built.root}: {'built now' if built.built_now else 'cached'}, "
          f"install took {built.install_seconds} s")
    return built


@pytest.fixture
def run_dags(venv: AirflowVenv, tmp_path: Path) -> RunDags:
    """`run_dags(project_dir, runs=[...], towpath_bin=[...], factory={...})`: `drive` in this test's tmp_path."""
    return lambda project_dir, **kwargs: drive(venv, tmp_path / "airflow-home", project_dir, **kwargs)
