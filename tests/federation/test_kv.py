"""KV namespaces as tables: decoded with their generated protobuf schema, looked up by key when a
statement joins on the key (only the keys its partner's filtered rows hold), scanned otherwise."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from towpath.errors import SpecError
from towpath.federation import UnknownSourceTableError
from towpath.project import Project

N = 1000


@pytest.fixture
def kv_project(fed_project: Project) -> Project:
    """`fed_project` plus a KV connection `devices` whose table `daily` holds one summary per patient 1..N."""
    from towpath.kv import open_store
    from towpath.protobuf import Encoder, generate_schema

    devices = pa.table({
        "patient_id": pa.array(range(1, N + 1), pa.int32()),
        "resting_pulse": pa.array([60 + i % 50 for i in range(1, N + 1)], pa.int32()),
        "model": [f"watch-{i % 3}" for i in range(1, N + 1)],
    })
    schema = generate_schema(devices.schema, ["patient_id"], package="test.devices")
    (fed_project.root / "device.schema.json").write_text(json.dumps(schema.to_json()))
    encoder = Encoder(schema)
    with open_store("embedded", root=fed_project.root) as store:
        store.create_namespace("device_v1")
        store.put_batch("device_v1", encoder.encode_keys(devices), encoder.encode_values(devices))
        store.set_alias("device_daily", "device_v1")
    with (fed_project.root / "towpath.yaml").open("a") as f:
        f.write("  devices:\n    type: kv\n    tables:\n"
                "      daily: {namespace: device_daily, schema: device.schema.json}\n")
    return Project(fed_project.root)


def test_a_join_on_the_key_looks_up_only_the_partners_keys(kv_project: Project) -> None:
    result = kv_project.query("""
        SELECT p.id, p.name, d.resting_pulse, d.model FROM clinic.patients p
        JOIN devices.daily d ON d.patient_id = p.id
        WHERE p.age = 7 ORDER BY p.id""")
    ids = [i for i in range(1, N + 1) if i % 90 == 7]
    assert result.to_pydict() == {
        "id": ids, "name": [f"patient-{i}" for i in ids],
        "resting_pulse": [60 + i % 50 for i in ids], "model": [f"watch-{i % 3}" for i in ids],
    }
    assert kv_project.federation.kv.lookups == [("devices.daily", len(ids))]  # 12 keys, not 1000


def test_the_partner_filter_still_reaches_postgres(kv_project: Project, audited_postgres: object) -> None:
    from fed_helpers import pg_reset, pg_statements

    pg_reset(audited_postgres)  # type: ignore[arg-type]
    kv_project.query("SELECT p.name, d.model FROM devices.daily d JOIN clinic.patients p ON p.id = d.patient_id "
                     "WHERE p.age = 7 AND d.resting_pulse > 0")
    reads = [q for q in pg_statements(audited_postgres, "patients") if q.startswith("COPY")]  # type: ignore[arg-type]
    assert len(reads) == 1 and '"age" = ' in reads[0].split(" WHERE ", 1)[1] and '"notes"' not in reads[0], reads


def test_a_kv_table_alone_is_scanned_and_decoded(kv_project: Project) -> None:
    result = kv_project.query("SELECT model, count(*) AS n FROM devices.daily WHERE resting_pulse >= 100 "
                              "GROUP BY model ORDER BY model")
    expected: dict[str, int] = {}
    for i in range(1, N + 1):
        if 60 + i % 50 >= 100:
            expected[f"watch-{i % 3}"] = expected.get(f"watch-{i % 3}", 0) + 1
    assert result.to_pydict() == {"model": sorted(expected), "n": [expected[k] for k in sorted(expected)]}
    assert kv_project.federation.kv.lookups == [("devices.daily", -1)]


def test_a_join_not_on_the_key_scans(kv_project: Project) -> None:
    result = kv_project.query("SELECT count(*) AS n FROM devices.daily d JOIN clinic.patients p "
                              "ON p.age = d.resting_pulse - 60 WHERE p.id = 5")
    assert result.to_pydict() == {"n": [sum(1 for i in range(1, N + 1) if i % 50 == 5)]}
    assert kv_project.federation.kv.lookups == [("devices.daily", -1)]


def test_three_sources_and_a_kv_lookup_in_one_statement(kv_project: Project) -> None:
    result = kv_project.query("""
        SELECT p.id, d.model, v.visits, count(c.id) AS claims FROM clinic.patients p
        JOIN devices.daily d ON d.patient_id = p.id
        JOIN ehr.claims c ON c.patient_id = p.id
        JOIN lake.visits v ON v.patient_id = p.id
        WHERE p.id <= 3 GROUP BY p.id, d.model, v.visits ORDER BY p.id""")
    assert result.to_pydict() == {"id": [1, 2, 3], "model": ["watch-1", "watch-2", "watch-0"],
                                  "visits": [0, 1, 2], "claims": [2, 2, 2]}


def test_an_unknown_kv_table_gets_did_you_mean(kv_project: Project) -> None:
    with pytest.raises(UnknownSourceTableError, match="Did you mean 'devices.daily'"):
        kv_project.query("SELECT * FROM devices.dialy")


def test_a_missing_schema_file_is_an_error_at_its_line(kv_project: Project) -> None:
    (kv_project.root / "device.schema.json").unlink()
    with pytest.raises(SpecError, match=r"towpath.yaml:\d+:\d+: connections.devices.tables.daily.schema: cannot read"):
        Project(kv_project.root).query("SELECT * FROM devices.daily")


def test_a_star_reads_every_column_of_the_partner(kv_project: Project) -> None:
    result = kv_project.query("SELECT * FROM clinic.patients p JOIN devices.daily d ON d.patient_id = p.id "
                              "WHERE p.id = 2")
    assert result.column_names == ["id", "name", "age", "state", "notes", "patient_id", "resting_pulse", "model"]
    assert result.num_rows == 1 and kv_project.federation.kv.lookups == [("devices.daily", 1)]


def test_spark_runs_the_same_kv_lookup(kv_project: Project, spark: object) -> None:
    sql = ("SELECT p.id, d.model FROM clinic.patients p JOIN devices.daily d ON d.patient_id = p.id "
           "WHERE p.age = 7 ORDER BY p.id")
    on_spark = kv_project.query(sql, engine="spark")
    assert on_spark.to_pylist() == kv_project.query(sql, engine="duckdb").to_pylist()
    assert kv_project.federation.kv.lookups == [("devices.daily", 12), ("devices.daily", 12)]
