"""A warehouse on S3: DuckDB reads the planned files itself through httpfs (from its wheel) when the
catalog names S3 credentials, and through a pyarrow dataset otherwise; both give the same rows,
and a federated query joins such a table with a connection."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from towpath.project import Project


def s3_project(root: Path, endpoint: str, *, credentials: bool) -> Project:
    import boto3

    bucket = f"wh-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    root.mkdir()
    keys = "    s3.access-key-id: testing\n    s3.secret-access-key: testing\n" if credentials else ""
    (root / "towpath.yaml").write_text(f"name: s3\nwarehouse: s3://{bucket}/wh\ncatalog:\n  type: sql\n  properties:\n"
                                       f"    s3.endpoint: {endpoint}\n    s3.region: us-east-1\n{keys}")
    project = Project(root)
    project.engine.run_script("CREATE TABLE lake.t (id INT, x DOUBLE) USING iceberg")
    project.engine.write("lake.t", pa.table({"id": pa.array(range(100), pa.int32()),
                                             "x": [i * 0.5 for i in range(100)]}), mode="append")
    return project


@pytest.mark.parametrize("credentials", [True, False], ids=["httpfs", "pyarrow"])
def test_s3_reads_give_the_same_rows(tmp_path: Path, s3_server: str, credentials: bool) -> None:
    project = s3_project(tmp_path / "p", s3_server, credentials=credentials)
    [result] = project.engine.run_script("SELECT count(*) AS n, sum(x) AS s FROM lake.t WHERE id >= 50")
    assert result.result is not None and result.result.to_pylist() == [{"n": 50, "s": sum(i * 0.5 for i in range(50, 100))}]
    assert ("READ_PARQUET(['S3://" in result.sql.upper()) is credentials


def test_a_federated_query_joins_an_s3_table(tmp_path: Path, s3_server: str) -> None:
    project = s3_project(tmp_path / "p", s3_server, credentials=True)
    with sqlite3.connect(project.root / "app.db") as db:
        db.execute("CREATE TABLE labels (id INTEGER, label TEXT)")
        db.executemany("INSERT INTO labels VALUES (?, ?)", [(1, "one"), (2, "two")])
    with (project.root / "towpath.yaml").open("a") as f:
        f.write("connections:\n  app:\n    type: sqlite\n    path: app.db\n")
    result = Project(project.root).query("SELECT l.label, t.x FROM app.labels l JOIN lake.t t ON t.id = l.id "
                                         "ORDER BY l.id")
    assert result.to_pydict() == {"label": ["one", "two"], "x": [0.5, 1.0]}
