"""A project with a `crm.profiles` table (the Bulldozer post's example) and a move file for it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa

from towpath.catalog import apply_ddl
from towpath.kv import KvStore, open_store
from towpath.moves import MoveResult, MoveWorkspace, load_move, run_move
from towpath.project import Project

PROFILES = pa.table({
    "profile_id": pa.array([1, 2, 3, 4], pa.int64()),
    "email": ["ann@example.com", "bob@example.com", None, "dan@example.com"],
    "age": pa.array([31, None, 45, 28], pa.int32()),
    "country": ["NO", "SE", "NO", "DK"],
})


def profiles_project(project: Project, rows: pa.Table = PROFILES) -> Project:
    project.catalog.ensure_namespace("crm")
    apply_ddl(project.catalog, "CREATE TABLE crm.profiles (profile_id BIGINT, email STRING, age INT, country STRING)")
    if rows.num_rows:
        project.catalog.write("crm.profiles", rows)
    return project


def move_file(project: Project, kv_url: str, body: str = "", *, name: str = "profiles.move.yaml", **subs: Any) -> Path:
    """A move file; `body` replaces the default data_movement section when given."""
    movement = body or textwrap.dedent("""\
        data_movement:
          source:
            table: crm.profiles
          key_columns: [profile_id]
          value_columns: [email, age]
    """)
    text = movement + textwrap.dedent(f"""\
        key_value_dal:
          url: "{kv_url}"
          namespace: {subs.get("namespace", "profiles")}
          batch_size: {subs.get("batch_size", 2)}
          keep_versions: {subs.get("keep_versions", 2)}
          audits:
            - type: sample_matches_source
              rows: 100
        protobuf:
          package: crm.profiles.v1
          output: proto
    """) + subs.get("extra", "")
    path = project.root / name
    path.write_text(text)
    return path


def workspace(project: Project) -> MoveWorkspace:
    return MoveWorkspace(project.catalog, project.state, project.root, lambda: project.engine)


def move(project: Project, path: Path, **kwargs: Any) -> MoveResult:
    return run_move(load_move(path), workspace(project), **kwargs)


def store(kv_url: str, project: Project) -> KvStore:
    return open_store(kv_url, root=project.root)
