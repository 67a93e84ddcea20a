"""The KV target on its own: protobuf puts and deletes, the position after them, replays, schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from cdc_case import change_batch

from towpath.cdc import Position, TargetContext
from towpath.cdc.changes import DELETE, INSERT, UPDATE
from towpath.cdc.spec import KvTargetSpec
from towpath.cdc.to_kv import KvTarget
from towpath.kv import open_store
from towpath.project import Project
from towpath.protobuf import Decoder, FieldNumbers, ProtoSchema, compile_schema, generate_schema

SCHEMA = pa.schema([pa.field("id", pa.int64(), False), pa.field("name", pa.string()), pa.field("score", pa.float64())])


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.init(tmp_path / "proj")


def target(project: Project, **kw: Any) -> KvTarget:
    spec = KvTargetSpec(type="kv", namespace="patients", **kw)
    return KvTarget(TargetContext(project.catalog, project.root, "job"), spec)


def contents(project: Project, namespace: str = "patients") -> dict[int, dict[str, Any]]:
    schema = ProtoSchema.from_json(json.loads((project.root / ".towpath/cdc/patients.schema.json").read_text()))
    decoder = Decoder(compile_schema(schema))
    with open_store("embedded", root=project.root) as store:
        page, _ = store.scan(namespace, None, 10_000)
    keys = decoder.decode_keys([k for k, _ in page]).to_pylist()
    values = decoder.decode_values([v for _, v in page]).to_pylist()
    return {k["id"]: {**k, **v} for k, v in zip(keys, values, strict=True)}


def test_snapshot_then_changes_then_a_replay_after_a_lost_position(project: Project) -> None:
    kv = target(project)
    assert kv.position() is None
    load = kv.begin_snapshot(SCHEMA, ["id"])
    load.add(pa.record_batch([pa.array([1, 2, 3]), pa.array(["a", "b", "c"]), pa.array([1.5, None, 3.0])],
                             schema=SCHEMA))
    load.commit(Position(10), "lsn 10")
    assert kv.position() == Position(10) and contents(project)[2] == {"id": 2, "name": "b", "score": None}
    changes = change_batch(SCHEMA, 20, (UPDATE, ["1", "a2", "9.5"]), (DELETE, ["2", None, None]), (INSERT, ["4", "d", None]),
                    (UPDATE, ["1", "a3", "10"]))
    assert kv.apply(changes, ["id"]) == 3  # key 1 twice: the last write wins
    expected = {1: {"id": 1, "name": "a3", "score": 10.0}, 3: {"id": 3, "name": "c", "score": 3.0},
                4: {"id": 4, "name": "d", "score": None}}
    assert contents(project) == expected and kv.position() == Position(20, 3)
    assert kv.apply(changes, ["id"]) == 0  # already applied: skipped by position
    kv._set_position(Position(10), "lsn 10")  # a crash after the data, before the position: the batch comes again
    again = target(project)
    assert again.apply(changes, ["id"]) == 3 and contents(project) == expected
    assert again.position() == Position(20, 3)
    again.close()
    kv.close()


def test_a_moved_namespaces_recorded_schema_is_reused_and_an_added_column_extends_it(project: Project) -> None:
    moved = generate_schema(pa.schema([*SCHEMA, pa.field("legacy", pa.string())]), ["id"], ["score", "legacy", "name"],
                            numbers=FieldNumbers())
    state = project.state
    version = state.kv.new_version("patients")
    state.kv.set_status("patients", version.version, "online", details={"proto": moved.to_json()})
    kv = target(project)
    kv.begin_snapshot(SCHEMA, ["id"]).commit(Position(5), "lsn 5")
    recorded = json.loads((project.root / ".towpath/cdc/patients.schema.json").read_text())
    assert recorded["field_numbers"] == moved.to_json()["field_numbers"]  # the move's numbers, not new ones
    assert kv.apply(change_batch(SCHEMA, 6, (INSERT, ["7", "g", "1"])), ["id"]) == 1
    before = contents(project)[7]
    wider = pa.schema([*SCHEMA, pa.field("plan", pa.string())])
    kv.evolve(wider)
    assert kv.apply(change_batch(wider, 8, (INSERT, ["8", "h", "2", "gold"])), ["id"]) == 1
    after = contents(project)
    assert after[8]["plan"] == "gold" and after[7] == {**before, "plan": None}
    numbers = json.loads((project.root / ".towpath/cdc/patients.schema.json").read_text())["field_numbers"]
    plan = numbers["ValueMessage"]["fields"]["plan"][0]
    assert plan not in [n for name, (n, _) in moved.to_json()["field_numbers"]["ValueMessage"]["fields"].items()]
    kv.close()
