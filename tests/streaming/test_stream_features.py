"""Stream features: schema evolution, type conflicts, CSV, SQL transforms, explicit schemas, alerts, the
workflow job type, timeouts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from stream_data import new_topic, orders, write_spec

import services
from towpath.errors import SpecError
from towpath.project import Project
from towpath.streaming import RunOptions, StreamJob, StreamStats, load_stream_spec


def run(project: Project, path: Path, **options: object) -> StreamStats:
    job = StreamJob(load_stream_spec(path), path.parent, project.catalog, project.state)
    return job.run(RunOptions(until_caught_up=True, handle_signals=False, **options))  # type: ignore[arg-type]


def table_of(topic: str) -> str:
    return f"lake.{topic.replace('-', '_')}"


def test_a_new_field_adds_a_column_and_a_type_conflict_is_a_dead_letter(
    project: Project, kafka_broker: services.KafkaBroker
) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic)
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic)
    kafka_broker.produce(topic, orders(5))
    run(project, path)
    kafka_broker.produce(topic, [
        json.dumps({"id": 5, "amount": 1.5, "created_at": "2024-01-01T00:00:00Z", "coupon": "XMAS"}).encode(),
        json.dumps({"id": "six", "amount": 2.0, "created_at": "2024-01-01T00:00:00Z"}).encode(),
        json.dumps({"id": 7, "amount": 3.0, "created_at": "2024-01-01T00:00:00Z"}).encode(),
    ])
    stats = run(project, path)
    assert (stats.rows, stats.dead_letters) == (2, 1)
    table = project.catalog.table(table_of(topic))
    field = table.schema().find_field("coupon")
    assert str(field.field_type) == "string" and not field.required
    rows = {r["id"]: r["coupon"] for r in project.catalog.read(table_of(topic)).to_pylist()}
    assert rows[5] == "XMAS" and rows[7] is None and len(rows) == 7
    [dead] = project.catalog.read(f"{table_of(topic)}_dead_letters").to_pylist()
    assert dead["offset"] == 6 and b'"six"' in dead["raw"] and "id" in dead["error"]


def test_csv_with_explicit_columns_required_fields_and_kafka_timestamp(
    project: Project, kafka_broker: services.KafkaBroker
) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [b"1,NL,10.5", b"2,DE,7", b",FR,1", b"3;BE;x", b"4,US,2.25"], keys=[b"a", b"b", b"c",
                                                                                                   b"d", b"e"],
                         timestamps=[1_700_000_000_000 + i for i in range(5)])
    path = write_spec(
        project.root, kafka_broker.bootstrap_servers, topic,
        format={"type": "csv", "columns": ["id", "country", "amount"]}, event_time="kafka_timestamp",
        key_column="message_key",
        schema=[{"name": "id", "type": "bigint", "required": True}, {"name": "country", "type": "string"},
                {"name": "amount", "type": "double"}],
        sink={"table": table_of(topic), "partition_by": ["days(kafka_timestamp)"]},
    )
    stats = run(project, path)
    assert (stats.rows, stats.dead_letters) == (3, 2)
    rows = project.catalog.read(table_of(topic)).sort_by("id").to_pylist()
    assert [(r["id"], r["country"], r["amount"], r["message_key"]) for r in rows] == [
        (1, "NL", 10.5, "a"), (2, "DE", 7.0, "b"), (4, "US", 2.25, "e")]
    assert rows[0]["kafka_timestamp"].timestamp() == 1_700_000_000.0
    dead = sorted(project.catalog.read(f"{table_of(topic)}_dead_letters").to_pylist(), key=lambda r: r["offset"])
    assert [(d["offset"], d["key"]) for d in dead] == [(2, b"c"), (3, b"d")]
    assert "required" in dead[0]["error"]


def test_a_sql_transform_runs_over_each_window(project: Project, kafka_broker: services.KafkaBroker) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, orders(20))
    sql = "SELECT id, upper(customer) AS customer, amount * 100 AS cents, created_at FROM window WHERE id % 2 = 0"
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic, transform={"sql": sql})
    stats = run(project, path)
    rows = project.catalog.read(table_of(topic)).sort_by("id").to_pylist()
    assert stats.rows == 10 and [r["id"] for r in rows] == list(range(0, 20, 2))
    assert rows[1]["customer"] == "C002" and rows[1]["cents"] == pytest.approx(250.0)


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_alerts_notify_a_webhook_and_are_recorded_with_the_window_offsets(
    project: Project, kafka_broker: services.KafkaBroker
) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, orders(40), partitions=2)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        path = write_spec(project.root, kafka_broker.bootstrap_servers, topic, alerts=[
            {"name": "big", "when": "amount > 40 AND customer = 'c033'", "notify": url, "sample": 1},
            {"name": "never", "when": "amount < 0"},
            {"name": "logged", "when": "id = 3", "notify": "log"},
        ])
        stats = run(project, path)
    finally:
        server.shutdown()
    assert stats.alerts_fired == 2
    [message] = _Hook.received
    assert message["event"] == "alert" and message["alert"] == "big" and message["matched"] == 1 and message["sample"][0]["id"] == 33
    firings = {f.alert: f for f in project.state.alerts.of_stream(topic)}
    assert set(firings) == {"big", "logged"}
    assert firings["big"].offsets == {f"{topic}/0": [0, 20], f"{topic}/1": [0, 20]}
    assert firings["big"].delivery_error is None and firings["big"].snapshot_id is not None


def test_a_bad_alert_predicate_fails_before_reading(project: Project, kafka_broker: services.KafkaBroker) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic)
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic,
                      alerts=[{"name": "x", "when": "amount >> AND"}])
    with pytest.raises(SpecError, match=r"alerts\[0\]\.when: not a SQL predicate"):
        run(project, path)


def test_timeout_stops_cleanly_and_commits(project: Project, kafka_broker: services.KafkaBroker) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, orders(10))
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic, window={"duration": "1h"}, timeout="2s")
    job = StreamJob(load_stream_spec(path), path.parent, project.catalog, project.state)
    stats = job.run(RunOptions(handle_signals=False))
    assert stats.stopped == "timeout" and project.catalog.read(table_of(topic)).num_rows == 10


def test_the_stream_job_type_in_a_workflow(project: Project, kafka_broker: services.KafkaBroker) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, orders(12))
    schema = [{"name": "id", "type": "bigint"}, {"name": "amount", "type": "double"},
              {"name": "created_at", "type": "timestamp"}]
    write_spec(project.root, kafka_broker.bootstrap_servers, topic, schema=schema)
    (project.root / "count.sql").write_text(
        f"CREATE TABLE IF NOT EXISTS lake.counts (n BIGINT) USING iceberg;\n"
        f"INSERT OVERWRITE lake.counts SELECT count(*) AS n FROM {table_of(topic)};\n")
    path = project.root / "load.sch.yaml"
    path.write_text(f"""\
id: load
steps:
  - job: {{id: orders, type: stream, spec: {topic}.stream.yaml}}
  - job: {{id: count, type: sql, script: count.sql}}
""")
    result = project.run(path, date="2024-01-02")
    assert result.ok, result.error
    [orders_job] = [j for j in result.jobs if j.job_id == "orders"]
    assert orders_job.rows_written == 12 and orders_job.details["stopped"] == "caught-up"
    assert project.catalog.read("lake.counts").column("n").to_pylist() == [12]


def test_casts_renames_derived_columns_and_a_filter(project: Project, kafka_broker: services.KafkaBroker) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, orders(10))
    transform = {"casts": {"amount": "decimal(10,2)"}, "renames": {"customer": "customer_id"},
                 "derive": {"big": "amount > 5"}, "filter": "id >= 2"}
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic, transform=transform)
    stats = run(project, path)
    table = project.catalog.table(table_of(topic))
    assert stats.rows == 8
    assert str(table.schema().find_field("amount").field_type) == "decimal(10, 2)"
    rows = project.catalog.read(table_of(topic)).sort_by("id").to_pylist()
    assert rows[0]["customer_id"] == "c002" and "customer" not in rows[0]
    assert [r["big"] for r in rows[:4]] == [False, False, False, True]  # amounts 2.5, 3.75, 5.0, 6.25


def test_a_transform_mixing_sql_and_steps_is_a_spec_error(project: Project) -> None:
    path = write_spec(project.root, "b:1", "t", transform={"sql": "SELECT * FROM window", "filter": "id > 1"})
    with pytest.raises(SpecError, match=r"transform: give either `sql` or any of"):
        load_stream_spec(path)
    path = write_spec(project.root, "b:1", "t", transform={"casts": {"id": "integr("}})
    with pytest.raises(SpecError, match=r"casts.id: 'integr\(' is not a Spark SQL type"):
        load_stream_spec(path)


def test_project_alerts_go_through_the_notification_channels(
    project: Project, kafka_broker: services.KafkaBroker
) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, orders(10))
    config = project.root / "towpath.yaml"
    config.write_text(config.read_text() + "notifications:\n  channels:\n    - {type: file, path: outbox, events: [alert]}\n")
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic,
                      alerts=[{"name": "first", "when": "id = 0", "notify": "project"}])
    from click.testing import CliRunner

    from towpath.cli.main import cli

    result = CliRunner().invoke(cli, ["-C", str(project.root), "stream", "run", str(path), "--until-caught-up"])
    assert result.exit_code == 0, result.output
    [notice] = [json.loads(p.read_text()) for p in (project.root / "outbox").glob("*.json")]
    assert notice["kind"] == "alert" and notice["data"]["alert"] == "first" and notice["data"]["matched"] == 1
    assert f"{topic}/0 [0, 10)" in notice["body"]
