"""The same workflow on a real component: the Iceberg catalog in PostgreSQL instead of SQLite."""

from __future__ import annotations

import shutil
import uuid

import psycopg

from towpath.catalog.metadata import get_hwm
from towpath.project import Project
from towpath.samples import load_source_table, recipe_path


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
