"""The seed workflow end to end on a real Spark standalone cluster (a master and two workers on loopback)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from spark_projects import DATES, make_project

import services
from towpath.project import Project
from towpath.samples import render_recipe

RESULTS = "foo.dataflow_sample_results"


@pytest.fixture(scope="module")
def cluster() -> Iterator[services.SparkCluster]:
    with services.spark_cluster(workers=2, cores=1, memory="1g") as running:
        yield running


def test_the_seed_workflow_runs_on_a_standalone_cluster_as_on_duckdb(tmp_path: Path, cluster: services.SparkCluster) -> None:
    root = tmp_path / "on_cluster"
    make_project(root, "duckdb")  # the source table, written without Spark
    (root / "towpath.yaml").write_text(f"engine:\n  type: spark\n  spark:\n    master: {cluster.url}\n")
    folder = render_recipe("spark-sql", root / "spark-sql")
    for date in DATES:
        done = subprocess.run(
            [sys.executable, "-m", "towpath.cli.main", "--no-worker", "-C", str(root), "workflow", "run",
             str(folder / "main.sch.yaml"), "--date", date, "--json"],
            capture_output=True, text=True, timeout=900, check=False,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert json.loads(done.stdout)["status"] == "success"
    status = cluster.status()
    applications = [app for key in ("activeapps", "completedapps") for app in status[key]]  # type: ignore[attr-defined]
    assert len(applications) == len(DATES)  # each run was an application of the cluster

    duck = make_project(tmp_path / "on_duckdb", "duckdb")
    duck_folder = render_recipe("spark-sql", duck.root / "spark-sql")
    for date in DATES:
        assert duck.run(duck_folder / "main.sch.yaml", date=date).status == "success"
    order = [("date", "ascending"), ("country_code", "ascending"), ("title_rank", "ascending"), ("title_id", "ascending")]
    on_cluster = Project(root).catalog.read(RESULTS).sort_by(order)
    assert on_cluster.num_rows > 10_000 and on_cluster.equals(duck.catalog.read(RESULTS).sort_by(order))
