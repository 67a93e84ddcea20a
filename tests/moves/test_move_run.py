"""A move end to end: versions behind an alias, the generated schema, retention, rollback, audits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from move_helpers import PROFILES, move, move_file, profiles_project, store

from towpath.moves import MoveAuditError, MoveError, list_versions, rollback
from towpath.project import Project

READ = """
import json, sys
sys.path.insert(0, sys.argv[1])
import profiles_pb2
from towpath.kv import open_store
store = open_store(sys.argv[2])
out = {}
for pid in (1, 2, 3, 4, 99):
    raw = store.get("profiles", profiles_pb2.KeyMessage(profile_id=pid).SerializeToString())
    if raw is None:
        out[pid] = None
        continue
    value = profiles_pb2.ValueMessage.FromString(raw)
    out[pid] = {"email": value.email if value.HasField("email") else None,
                "age": value.age if value.HasField("age") else None}
print(json.dumps(out))
"""


def test_a_move_writes_a_version_readers_see_through_the_alias(project: Project, kv_url: str) -> None:
    profiles_project(project)
    result = move(project, move_file(project, kv_url))
    assert result.status == "published" and result.version == 1 and result.keys == 4
    assert result.namespace is not None and result.namespace.startswith("profiles_") and len(result.namespace) == 23
    assert [a.status for a in result.audits] == ["passed", "passed", "passed"]
    snapshot = project.catalog.snapshot_id("crm.profiles")
    assert result.source == {"table": "crm.profiles", "snapshot_id": snapshot, "filter": None}
    proto = (project.root / "proto" / "profiles.proto").read_text()
    assert "message KeyMessage {\n  optional int64 profile_id = 1;\n}" in proto
    assert "message ValueMessage {\n  optional string email = 1;\n  optional int32 age = 2;\n}" in proto
    # A typed read with only protoc's generated module, in a process of its own.
    out = subprocess.run([sys.executable, "-c", READ, str(project.root / "proto"), kv_url], capture_output=True,
                         text=True, check=True, cwd=project.root).stdout
    assert json.loads(out) == {"1": {"email": "ann@example.com", "age": 31}, "2": {"email": "bob@example.com", "age": None},
                               "3": {"email": None, "age": 45}, "4": {"email": "dan@example.com", "age": 28}, "99": None}
    version = project.state.kv.version("profiles", 1)
    assert version.status == "online" and version.rows == 4 and version.details["source"]["snapshot_id"] == snapshot
    assert version.details["proto"]["field_numbers"]["ValueMessage"]["fields"] == {"email": [1, "string"], "age": [2, "int32"]}


def test_field_numbers_stay_when_the_table_changes(project: Project, kv_url: str) -> None:
    profiles_project(project)
    path = move_file(project, kv_url, "data_movement:\n  source: {table: crm.profiles}\n  key_columns: [profile_id]\n")
    first = move(project, path)
    assert "optional string country = 3;" in first.proto
    table = project.catalog.table("crm.profiles")
    with table.update_schema() as update:
        update.delete_column("age")
        update.add_column("score", __import__("pyiceberg.types", fromlist=["DoubleType"]).DoubleType())
    project.catalog.write("crm.profiles", pa.table({"profile_id": [9], "email": ["z@x"], "country": ["FI"], "score": [0.5]}))
    second = move(project, path)
    assert "optional string email = 1;" in second.proto and "optional string country = 3;" in second.proto
    assert "optional double score = 4;" in second.proto and "reserved 2;" in second.proto and 'reserved "age";' in second.proto
    values = store(kv_url, project)
    try:
        assert values.count("profiles") == 5
    finally:
        values.close()


def test_retention_keeps_the_newest_versions_never_current_or_previous(project: Project, kv_url: str) -> None:
    profiles_project(project)
    path = move_file(project, kv_url, keep_versions=2)
    names = [move(project, path).namespace for _ in range(4)]
    kv = store(kv_url, project)
    try:
        assert set(kv.namespaces()) == set(names[2:])
        views = list_versions(kv, project.state, "profiles")
        assert [(v.version, v.status, v.current) for v in views] == [
            (1, "retired", False), (2, "retired", False), (3, "online", False), (4, "online", True)]
        # Roll back to v3; the next move keeps v5 (current), v4 (the rollback target) and v3 (what readers
        # saw before the swap); the move after it drops v3 and v4.
        before, after = rollback(kv, project.state, "profiles")
        assert (before.version, after.version) == (4, 3) and kv.alias("profiles") == names[2]
        fifth = move(project, path)
        assert fifth.previous == 3 and fifth.dropped == []
        assert set(kv.namespaces()) == {*names[2:], fifth.namespace}
        sixth = move(project, path)
        assert sorted(sixth.dropped) == sorted(names[2:])
        assert set(kv.namespaces()) == {fifth.namespace, sixth.namespace}
        assert rollback(kv, project.state, "profiles")[1].version == 5
        with pytest.raises(MoveError, match="version 4 of 'profiles' is retired"):
            rollback(kv, project.state, "profiles", to=4)
        with pytest.raises(MoveError, match="has no version 9"):
            rollback(kv, project.state, "profiles", to=9)
        assert rollback(kv, project.state, "profiles", to=6)[1].version == 6
    finally:
        kv.close()


def test_a_failed_audit_keeps_the_version_and_leaves_readers_where_they_were(project: Project, kv_url: str) -> None:
    profiles_project(project)
    path = move_file(project, kv_url)
    first = move(project, path)
    failing = move_file(project, kv_url, extra="", name="strict.move.yaml")
    failing.write_text(failing.read_text().replace("    - type: sample_matches_source\n      rows: 100\n",
                                                   "    - type: min_rows\n      rows: 1000\n"))
    with pytest.raises(MoveAuditError, match=r"profiles v2 \(profiles_\d+\) failed its audits, readers stay on v1: "
                                             r"min_rows: 4 keys, at least 1,000 wanted"):
        move(project, failing)
    kv = store(kv_url, project)
    try:
        assert kv.alias("profiles") == first.namespace
        kept = project.state.kv.version("profiles", 2)
        assert kept.status == "error" and kept.details["kept"] and kv.count(kept.details["kv_namespace"]) == 4
        assert [a["status"] for a in kept.details["audits"]] == ["passed", "passed", "failed"]
    finally:
        kv.close()


def test_a_pinned_snapshot_a_filter_and_a_sql_source(project: Project, kv_url: str) -> None:
    profiles_project(project)
    pinned = project.catalog.snapshot_id("crm.profiles")
    project.catalog.write("crm.profiles", pa.table({"profile_id": [5], "email": ["eve@x"], "age": [50], "country": ["NO"]}))
    at_snapshot = move(project, move_file(project, kv_url, textwrap_source(f"table: crm.profiles\n    snapshot_id: {pinned}")))
    assert at_snapshot.keys == 4 and at_snapshot.source["snapshot_id"] == pinned
    filtered = move(project, move_file(project, kv_url, textwrap_source("table: crm.profiles\n    filter: \"country = 'NO'\""),
                                       namespace="norway"))
    assert filtered.keys == 3 and filtered.source["filter"] == "country = 'NO'"
    body = ("data_movement:\n  source:\n    sql: SELECT profile_id, upper(email) AS email, age FROM crm.profiles WHERE age > 30\n"
            "  key_columns: [profile_id]\n")
    from_sql = move(project, move_file(project, kv_url, body, namespace="older"))
    assert from_sql.keys == 3 and from_sql.source["tables"] == {"crm.profiles": project.catalog.snapshot_id("crm.profiles")}


def textwrap_source(source: str) -> str:
    return f"data_movement:\n  source:\n    {source}\n  key_columns: [profile_id]\n  value_columns: [email, age]\n"


def test_on_duplicate_last_keeps_the_last_row_of_each_key(project: Project, kv_url: str) -> None:
    rows = pa.concat_tables([PROFILES, pa.table({
        "profile_id": pa.array([2, 2], pa.int64()), "email": ["b2@x", "b3@x"], "age": pa.array([1, 2], pa.int32()),
        "country": ["SE", "SE"]})])
    profiles_project(project, rows)
    body = textwrap_source("table: crm.profiles") + "  on_duplicate: last\n"
    result = move(project, move_file(project, kv_url, body))
    assert result.rows == 6 and result.keys == 4 and all(a.status == "passed" for a in result.audits)
    from towpath.protobuf import Decoder, compile_schema, generate_schema

    schema = generate_schema(project.catalog.table("crm.profiles").schema().as_arrow(), ["profile_id"], ["email", "age"],
                             package="crm.profiles.v1")
    compiled = compile_schema(schema)
    kv = store(kv_url, project)
    try:
        raw = kv.get("profiles", compiled.key_class(profile_id=2).SerializeToString())
    finally:
        kv.close()
    assert Decoder(compiled).decode_values([raw]).to_pylist() == [{"email": "b3@x", "age": 2}]


def test_an_empty_source_moves_an_empty_version(project: Project, kv_url: str) -> None:
    profiles_project(project, PROFILES.slice(0, 0))
    result = move(project, move_file(project, kv_url))
    assert result.status == "published" and result.keys == 0 and result.rows == 0


def test_dry_run_writes_nothing(project: Project, kv_url: str) -> None:
    profiles_project(project)
    result = move(project, move_file(project, kv_url), dry_run=True)
    assert result.status == "dry_run" and result.keys == 4 and "message ValueMessage" in result.proto
    kv = store(kv_url, project)
    try:
        assert kv.namespaces() == [] and project.state.kv.versions("profiles") == []
    finally:
        kv.close()
    assert not Path(project.root / "proto").exists()


def test_a_move_through_the_kv_service_over_grpc_needs_its_token(project: Project, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import services
    from towpath.kv import KvAuthError
    from towpath.kv.service import KvService, ServiceConfig

    profiles_project(project)
    config = ServiceConfig(engine=f"embedded:{tmp_path / 'served'}", port=0, grpc_port=services.free_port(),
                           token="moves-secret")
    with KvService(config) as service:
        url = f"grpc://127.0.0.1:{service.grpc_port}"
        path = move_file(project, url)
        monkeypatch.delenv("TOWPATH_KV_TOKEN", raising=False)
        with pytest.raises(KvAuthError):
            move(project, path)
        assert service.store.namespaces() == []
        refused = project.state.kv.version("profiles", 1)
        assert refused.status == "error" and refused.details["reason"].startswith("cannot create profiles_")
        monkeypatch.setenv("TOWPATH_KV_TOKEN", "moves-secret")
        result = move(project, path)
        assert result.status == "published" and result.keys == 4
        assert service.store.alias("profiles") == result.namespace and service.store.count("profiles") == 4
