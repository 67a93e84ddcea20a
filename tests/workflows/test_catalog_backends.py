"""The same workflow on a real component: the Iceberg catalog in PostgreSQL instead of SQLite."""

from __future__ import annotations

import shutil
import uuid

import psycopg

from towpath.catalog.metadata import get_hwm
from towpath.project import Project
from towpath.samples import generate_viewing_day, load_source_table, recipe_path


def test_sample_workflow_on_a_postgres_backed_catalog(tmp_path, postgres_server):
    dbname = f"catalog_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{dbname}"')
    uri = postgres_server.dsn_for(dbname).replace("postgresql://", "postgresql+psycopg2://")
    root = tmp_path / "pgproj"
    root.mkdir()
    (root / "towpath.yaml").write_text(f"name: pg\ncatalog:\n  type: sql\n  uri: {uri}\n")
    project = Project(root)
    shutil.copytree(recipe_path("spark-sql"), root / "sample")
    load_source_table(project, dates=["2022-01-01"], rows_per_day=30_000)

    result = project.run(root / "sample" / "main.sch.yaml", date="2022-01-01")

    assert result.ok, result.error
    assert get_hwm(project.catalog, "foo.dataflow_sample_results").date().isoformat() == "2022-01-01"
    with psycopg.connect(postgres_server.dsn_for(dbname)) as con:
        tables = {row[0] for row in con.execute("SELECT table_name FROM iceberg_tables")}
    assert tables == {"dataflow_sample_results", "source_table"}
    assert not (root / ".towpath" / "catalog.db").exists()
    assert Project(root).catalog.read("foo.dataflow_sample_results").num_rows == result.jobs[2].rows_written


def test_sample_workflow_with_the_warehouse_on_s3(tmp_path, s3_server):
    import boto3

    bucket = f"wh-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    root = tmp_path / "s3proj"
    root.mkdir()
    (root / "towpath.yaml").write_text(
        f"name: s3\nwarehouse: s3://{bucket}/warehouse\n"
        "catalog:\n  type: sql\n  properties:\n"
        f"    s3.endpoint: {s3_server}\n    s3.access-key-id: testing\n"
        "    s3.secret-access-key: testing\n    s3.region: us-east-1\n"
    )
    project = Project(root)
    shutil.copytree(recipe_path("spark-sql"), root / "sample")
    load_source_table(project, dates=["2022-01-01", "2022-01-02"], rows_per_day=30_000)

    result = project.run(root / "sample" / "main.sch.yaml", date="2022-01-02")

    assert result.ok, result.error
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_server).list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith("warehouse/foo/dataflow_sample_results/data/date=2022-01-02/") for k in keys)
    assert not list((root / ".towpath").glob("warehouse*"))
    us = project.query(
        "SELECT COUNT(*) AS n, MIN(title_rank) AS best FROM foo.dataflow_sample_results WHERE country_code = 'US'"
    )
    assert us.to_pylist() == [{"n": 100, "best": 1}]
    project.engine.reset_scans()
    day = project.query("SELECT COUNT(*) AS n FROM some_db.source_table WHERE date = DATE '2022-01-02'")
    assert day["n"][0].as_py() == generate_viewing_day("2022-01-02", 30_000).num_rows
    scan = project.engine.scans[-1]
    assert len(scan.files) == 1 and scan.total_files == 2  # partition pruning on object storage too
