"""Nothing is written when the move file or the source is wrong; each error names file:line and a sample."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
from move_helpers import PROFILES, move, move_file, profiles_project, store

from towpath.errors import CatalogError, SpecError
from towpath.moves import load_move
from towpath.project import Project


def _nothing_written(project: Project, url: str) -> None:
    kv = store(url, project)
    try:
        assert kv.namespaces() == [] and kv.aliases() == {}
    finally:
        kv.close()
    assert project.state.kv.versions("profiles") == []


@pytest.mark.parametrize(("body", "line", "message"), [
    ("data_movement:\n  source: {table: crm.profiles}\n", 1, "missing required field 'key_columns'"),
    ("data_movement:\n  source: {table: crm.profiles, sql: SELECT 1}\n  key_columns: [profile_id]\n", 2,
     "give exactly one of `table` or `sql`"),
    ("data_movement:\n  source: {table: crm.profiles}\n  key_columns: [profile_id]\n  on_duplicate: first\n", 4,
     "on_duplicate"),
    ("data_movement:\n  source: {table: crm.profiles}\n  key_colums: [profile_id]\n", 3,
     "unknown field 'key_colums'; did you mean 'key_columns'?"),
])
def test_a_malformed_move_file_is_refused_at_its_line(project: Project, body: str, line: int, message: str) -> None:
    path = move_file(project, "embedded", body)
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        load_move(path)
    assert f"{path}:{line}:" in str(caught.value)


def test_a_bad_namespace_name_is_refused(project: Project) -> None:
    path = move_file(project, "embedded", namespace="'bad-name'")
    with pytest.raises(SpecError, match=r"key_value_dal.namespace: String should match pattern"):
        load_move(path)


@pytest.mark.parametrize(("body", "line", "message"), [
    ("data_movement:\n  source: {table: crm.profiles}\n  key_columns: [profile_id]\n  value_columns: [email, nope]\n",
     4, "data_movement.value_columns: column 'nope': not in the source (columns: profile_id, email, age, country)"),
    ("data_movement:\n  source: {table: crm.profiles}\n  key_columns:\n    - profile_id\n    - missing\n",
     5, "column 'missing': not in the source"),
])
def test_unknown_columns_are_refused_before_writing(project: Project, kv_url: str, body: str, line: int,
                                                    message: str) -> None:
    profiles_project(project)
    path = move_file(project, kv_url, body)
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        move(project, path)
    assert str(caught.value).startswith(f"{path}:{line}:")
    _nothing_written(project, kv_url)


def test_duplicate_keys_are_refused_with_a_sample(project: Project, kv_url: str) -> None:
    rows = pa.concat_tables([PROFILES, PROFILES.slice(1, 2)])
    profiles_project(project, rows)
    path = move_file(project, kv_url)
    with pytest.raises(SpecError, match=re.escape(
        "data_movement.key_columns: 2 duplicate key row(s) over 2 key(s) (set `on_duplicate: last` to keep the "
        'last row of each); e.g. {"profile_id": 2, "count_all": 2}; {"profile_id": 3, "count_all": 2}',
    )) as caught:
        move(project, path)
    assert str(caught.value).startswith(f"{path}:4:")
    _nothing_written(project, kv_url)


def test_null_keys_are_refused_with_a_sample(project: Project, kv_url: str) -> None:
    rows = pa.concat_tables([PROFILES, pa.table({"profile_id": pa.array([None], pa.int64()), "email": ["x@y"],
                                                 "age": pa.array([3], pa.int32()), "country": ["NO"]})])
    profiles_project(project, rows)
    path = move_file(project, kv_url)
    with pytest.raises(SpecError, match=re.escape(
        "key column 'profile_id' is null in 1 row(s) of this batch; e.g. {\"profile_id\": null}")):
        move(project, path)
    _nothing_written(project, kv_url)


def test_unsupported_types_and_unknown_tables_are_refused(project: Project, kv_url: str) -> None:
    profiles_project(project)
    body = "data_movement:\n  source:\n    sql: SELECT profile_id, INTERVAL 1 DAY AS gap FROM crm.profiles\n  key_columns: [profile_id]\n"
    with pytest.raises(SpecError, match=re.escape("column 'gap': type month_day_nano_interval has no protobuf form")):
        move(project, move_file(project, kv_url, body))
    body = "data_movement:\n  source:\n    table: crm.profile\n  key_columns: [profile_id]\n"
    path = move_file(project, kv_url, body)
    with pytest.raises(CatalogError, match=re.escape(f"{path}:3: ")) as caught:
        move(project, path)
    assert "crm.profiles" in str(caught.value)  # did-you-mean
    body = "data_movement:\n  source:\n    table: crm.profiles\n    filter: \"nope = 1\"\n  key_columns: [profile_id]\n"
    path = move_file(project, kv_url, body)
    with pytest.raises(CatalogError, match=re.escape(f"{path}:4: bad row filter 'nope = 1'")):
        move(project, path)
    body = "data_movement:\n  source:\n    table: crm.profiles\n    snapshot_id: 42\n  key_columns: [profile_id]\n"
    path = move_file(project, kv_url, body)
    with pytest.raises(CatalogError, match=re.escape(f"{path}:4: table 'crm.profiles' has no snapshot 42")):
        move(project, path)
    _nothing_written(project, kv_url)


def test_duplicate_composite_keys_are_refused_too(project: Project) -> None:
    profiles_project(project)
    body = "data_movement:\n  source: {table: crm.profiles}\n  key_columns: [country]\n  value_columns: [email]\n"
    with pytest.raises(SpecError, match=re.escape('1 duplicate key row(s) over 1 key(s)') + ".*" + re.escape(
            '{"country": "NO", "count_all": 2}')):
        move(project, move_file(project, "embedded", body))
    body = "data_movement:\n  source: {table: crm.profiles}\n  key_columns: [country, profile_id]\n"
    assert move(project, move_file(project, f"embedded:{project.root / 'kv'}", body)).keys == 4
