"""Lineage of move, stream and CDC jobs — as workflow steps and as standalone files `project validate`
finds — with datasets outside the catalog named as OpenLineage names them, and OpenLineage events of a
real move run carrying them."""

from __future__ import annotations

import json
import textwrap

import pytest

from towpath.lineage import LineageGraph, Node
from towpath.testing import validate_project

KV = "redis://127.0.0.1:6390/profiles"
TOPIC = "kafka://127.0.0.1:9092/orders"


def _write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


WORKFLOW = {
    "crm/ddl.sql": """\
        CREATE TABLE IF NOT EXISTS crm.profiles (profile_id BIGINT, email STRING, age INT, country STRING);
        """,
    "crm/main.sch.yaml": """\
        id: crm_exports
        owner: crm@example.com
        steps:
          - job: {id: ddl, type: sql, script: ddl.sql}
          - job: {id: to_kv, type: move, file: profiles.move.yaml}
          - job: {id: orders, type: stream, spec: orders.stream.yaml}
        """,
    "crm/profiles.move.yaml": """\
        data_movement:
          source:
            table: crm.profiles
            filter: "country = 'NO'"
          key_columns: [profile_id]
          value_columns:
            - email
            - age
        key_value_dal:
          url: redis://reader:s3cret@127.0.0.1:6390/0
          namespace: profiles
        """,
    "crm/orders.stream.yaml": """\
        name: orders
        source:
          bootstrap_servers: 127.0.0.1:9092,127.0.0.1:9093
          topics: [orders]
        schema:
          - {name: order_id, type: bigint}
          - {name: amount, type: double}
          - {name: country, type: string}
        transform:
          renames: {amount: amount_eur}
          derive: {cents: amount * 100}
        sink: {table: lake.orders}
        """,
}


@pytest.fixture
def graph(project) -> LineageGraph:
    _write(project.root, WORKFLOW)
    assert validate_project(project) == []
    return LineageGraph.from_state(project.state)


def _edges(graph: LineageGraph, job: str) -> set[tuple[str, str | None, str, str | None]]:
    return {(e.source, e.source_column, e.target, e.target_column) for e in graph.edges if e.job_id == job}


def test_a_move_step_maps_source_columns_to_the_kv_namespace_without_credentials(graph, project):
    assert _edges(graph, "to_kv") == {
        ("crm.profiles", "profile_id", KV, "profile_id"),
        ("crm.profiles", "email", KV, "email"),
        ("crm.profiles", "age", KV, "age"),
    }
    assert "s3cret" not in json.dumps([e.target for e in graph.edges])
    move_file = str(project.root / "crm" / "profiles.move.yaml")
    reads = {(u.column, u.line) for u in graph.uses if u.job_id == "to_kv" and u.role == "read" and u.file == move_file}
    assert reads == {(None, 3), ("country", 4), ("profile_id", 5), ("email", 7), ("age", 8)}
    view = graph.walk(graph.node("crm.profiles.email"), "downstream")
    assert [(str(h.target), f"{h.workflow}.{h.job}") for h in view.hops] == [(f"{KV}.email", "crm_exports.to_kv")]
    assert view.hops[0].reads == (f"{move_file}:7",)


def test_a_stream_step_maps_topic_fields_through_renames_and_derived_columns(graph):
    assert _edges(graph, "orders") == {
        (TOPIC, "order_id", "lake.orders", "order_id"),
        (TOPIC, "amount", "lake.orders", "amount_eur"),
        (TOPIC, "amount", "lake.orders", "cents"),
        (TOPIC, "country", "lake.orders", "country"),
        (TOPIC, None, "lake.orders_dead_letters", None),
    }
    assert graph.node(TOPIC) == Node(TOPIC)
    upstream = graph.walk(graph.node("lake.orders.cents"), "upstream")
    assert [str(h.source) for h in upstream.hops] == [f"{TOPIC}.amount"]


STANDALONE = {
    "cdc/patients.cdc.yaml": """\
        name: patients
        source:
          type: postgres
          dsn: postgresql://app:pw@db.internal:5433/clinic
          table: patients
          primary_key: [id]
        targets:
          - {type: iceberg, table: lake.patients}
          - {type: search, index: patients}
        """,
    "streams/clicks.stream.yaml": """\
        name: clicks
        source: {bootstrap_servers: 'PLAINTEXT://broker:29092', topics: [web.clicks]}
        schema:
          - {name: url, type: string}
          - {name: ms, type: bigint}
        transform:
          sql: |
            SELECT url, ms / 1000 AS seconds FROM window WHERE ms > 0
        sink: {table: lake.clicks, dead_letters: lake.bad_clicks}
        """,
    "streams/raw.stream.yaml": """\
        name: raw
        source: {bootstrap_servers: 'broker:29092', topics: [web.raw]}
        schema:
          - {name: url, type: string}
        sink: {path: s3://lake/raw, format: parquet}
        """,
    "moves/totals.move.yaml": """\
        data_movement:
          source:
            sql: |
              SELECT country, SUM(age) AS total_age
              FROM crm.profiles
              GROUP BY country
          key_columns: [country]
        key_value_dal: {namespace: totals}
        """,
}


def test_standalone_job_files_are_collected_by_project_validate(project):
    from towpath.catalog import apply_ddl

    apply_ddl(project.catalog, "CREATE TABLE lake.patients (id BIGINT, name STRING)")
    apply_ddl(project.catalog, "CREATE TABLE crm.profiles (profile_id BIGINT, email STRING, age INT, country STRING)")
    _write(project.root, STANDALONE)

    assert validate_project(project) == []

    graph = LineageGraph.from_state(project.state)
    source = "postgres://db.internal:5433/clinic.public.patients"
    assert _edges(graph, "cdc") == {
        (source, "id", "lake.patients", "id"), (source, "name", "lake.patients", "name"),
        (source, "id", "tantivy://test/patients", "id"), (source, "name", "tantivy://test/patients", "name"),
    }
    assert {w.workflow_id for w in graph.workflows} == {
        "cdc/patients.cdc.yaml", "streams/clicks.stream.yaml", "streams/raw.stream.yaml", "moves/totals.move.yaml"}
    assert _edges(graph, "stream") >= {
        ("kafka://broker:29092/web.clicks", "url", "lake.clicks", "url"),
        ("kafka://broker:29092/web.clicks", "ms", "lake.clicks", "seconds"),
        ("kafka://broker:29092/web.clicks", None, "lake.bad_clicks", None),
    }
    assert _edges(graph, "stream") >= {
        ("kafka://broker:29092/web.raw", "url", "s3://lake/raw", "url"),
        ("kafka://broker:29092/web.raw", None, "s3://lake/raw_dead_letters", None),
    }
    totals = "embedded://test/totals"
    assert _edges(graph, "move") == {
        ("crm.profiles", "country", totals, "country"), ("crm.profiles", "age", totals, "total_age")}
    move_file = str(project.root / "moves" / "totals.move.yaml")
    assert {(u.column, u.line) for u in graph.uses if u.file == move_file and u.column} == {
        ("country", 4), ("age", 4), ("country", 6)}


def test_a_file_a_workflow_runs_is_not_also_a_standalone_job(graph):
    assert {w.workflow_id for w in graph.workflows} == {"crm_exports"}


def test_a_broken_standalone_file_is_reported_at_its_line(project):
    _write(project.root, {"bad.cdc.yaml": "name: x\nsource: {type: oracle, dsn: x, table: t}\ntargets: []\n"})

    problems = validate_project(project)

    assert [(p.file.name, p.line) for p in problems][:1] == [("bad.cdc.yaml", 2)]
    assert project.state.lineage.workflows() == []


def test_a_move_runs_with_openlineage_events_naming_the_kv_dataset(project, tmp_path):
    pytest.importorskip("lmdb")
    events_file = tmp_path / "events.jsonl"
    (project.root / "towpath.yaml").write_text(
        f"name: test\nopenlineage:\n  namespace: crm\n  transport: {{type: file, log_file_path: '{events_file}'}}\n")
    _write(project.root, {
        "crm/ddl.sql": "CREATE TABLE IF NOT EXISTS crm.profiles (profile_id BIGINT, email STRING, age INT);\n",
        "crm/load.sql": "INSERT INTO crm.profiles SELECT CAST(id AS BIGINT), concat('u', id, '@x.org'), "
                        "CAST(id AS INT) FROM range(1, 4) AS t(id);\n",
        "crm/main.sch.yaml": """\
            id: crm_exports
            steps:
              - job: {id: ddl, type: sql, script: ddl.sql}
              - job: {id: load, type: sql, script: load.sql}
              - job: {id: to_kv, type: move, file: profiles.move.yaml}
            """,
        "crm/profiles.move.yaml": """\
            data_movement:
              source: {table: crm.profiles}
              key_columns: [profile_id]
            key_value_dal: {namespace: profiles}
            """,
    })
    reopened = type(project)(project.root)

    result = reopened.run("crm/main.sch.yaml", date="2022-01-01")

    assert result.ok, result.error
    from test_openlineage import validate as validate_event

    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    for event in events:
        validate_event(event)
    [complete] = [e for e in events if e["job"]["name"] == "crm_exports.to_kv" and e["eventType"] == "COMPLETE"]
    assert [(i["namespace"], i["name"]) for i in complete["inputs"]] == [("iceberg://test", "crm.profiles")]
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("embedded://test", "profiles")
    fields = output["facets"]["columnLineage"]["fields"]
    assert {c: [(f["namespace"], f["name"], f["field"]) for f in v["inputFields"]] for c, v in fields.items()} == {
        c: [("iceberg://test", "crm.profiles", c)] for c in ("profile_id", "email", "age")}
