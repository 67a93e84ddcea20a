"""Catalogs opened in one process share their pyiceberg catalog and parsed metadata, never stale."""

from __future__ import annotations

import shutil

import pyarrow as pa

from towpath.project import Project

ROWS = pa.schema([pa.field("n", pa.int64())])


def _with_table(project: Project) -> None:
    project.catalog.ensure_namespace("db")
    project.catalog.iceberg.create_table("db.t", schema=ROWS)


def test_two_projects_on_one_folder_share_a_catalog_and_see_each_others_commits(project: Project) -> None:
    _with_table(project)
    other = Project(project.root)
    assert other.catalog.iceberg is project.catalog.iceberg
    before = other.catalog.table("db.t")
    project.catalog.write("db.t", pa.table({"n": pa.array([1, 2], pa.int64())}))
    after = other.catalog.table("db.t")
    assert after.metadata_location != before.metadata_location
    assert other.catalog.read("db.t").num_rows == 2
    assert before.current_snapshot() is None  # a table handed out earlier is not changed under its holder


def test_a_catalog_file_created_again_is_a_new_catalog(project: Project) -> None:
    _with_table(project)
    project.catalog.write("db.t", pa.table({"n": pa.array([1], pa.int64())}))
    shutil.rmtree(project.root / ".towpath")
    again = Project(project.root)
    assert again.catalog.iceberg is not project.catalog.iceberg
    assert again.catalog.list_tables() == []
