"""A stream job end to end against Tansu: detection, windows, dead letters, offsets in the table."""

from __future__ import annotations

from stream_data import new_topic, orders, write_spec

import services
from towpath.catalog import read_position
from towpath.project import Project
from towpath.streaming import RunOptions, StreamJob, load_stream_spec


def job(project: Project, path) -> StreamJob:  # type: ignore[no-untyped-def]
    return StreamJob(load_stream_spec(path), path.parent, project.catalog, project.state)


def test_reads_topic_into_a_detected_partitioned_table_with_dead_letters(
    project: Project, kafka_broker: services.KafkaBroker
) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic, partitions=3)
    kafka_broker.produce(topic, orders(300, bad_every=50), partitions=3)
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic)
    stats = job(project, path).run(RunOptions(until_caught_up=True, handle_signals=False))
    assert stats.stopped == "caught-up" and stats.messages == 300
    table = f"lake.{topic.replace('-', '_')}"
    rows = project.catalog.read(table)
    assert rows.num_rows == 294 and sorted(rows.column("id").to_pylist()) == [i for i in range(300) if i % 50 != 49]
    schema = project.catalog.table(table).schema()
    assert str(schema.find_field("created_at").field_type) in ("timestamp", "timestamptz")
    assert str(schema.find_field("items").field_type).startswith("struct<")
    assert [f.name for f in project.catalog.table(table).spec().fields] == ["created_at_day"]
    dead = project.catalog.read(f"{table}_dead_letters")
    assert dead.num_rows == 6
    assert sorted(dead.column("raw").to_pylist()) == sorted(b'{"id": %d, "amount": ' % i for i in range(49, 300, 50))
    assert sorted(dead.column("offset").to_pylist()) == sorted(i // 3 for i in range(49, 300, 50))
    assert all("JSON parse error" in e or "Invalid" in e for e in dead.column("error").to_pylist())
    assert read_position(project.catalog, table, topic) == {f"{topic}/{p}": 100 for p in range(3)}
    # the consumer group mirrors the committed offsets, for monitoring tools only
    from confluent_kafka import Consumer, TopicPartition

    group = Consumer({"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": f"towpath-{topic}"})
    try:
        committed = group.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    finally:
        group.close()
    assert [tp.offset for tp in committed] == [100, 100, 100]
    assert [(o.partition, o.next_offset) for o in project.state.offsets.of_stream(topic)] == [(0, 100), (1, 100),
                                                                                                (2, 100)]


def test_a_rerun_reads_only_new_messages(project: Project, kafka_broker: services.KafkaBroker) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, orders(100), partitions=2)
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic)
    job(project, path).run(RunOptions(until_caught_up=True, handle_signals=False))
    kafka_broker.produce(topic, orders(50, start=100), partitions=2)
    again = job(project, path).run(RunOptions(until_caught_up=True, handle_signals=False))
    assert again.messages == 50
    ids = project.catalog.read(f"lake.{topic.replace('-', '_')}").column("id").to_pylist()
    assert sorted(ids) == list(range(150))


def test_a_topic_pattern_reads_every_matching_topic(project: Project, kafka_broker: services.KafkaBroker) -> None:
    prefix = new_topic("pattern")
    for suffix, start in (("eu", 0), ("us", 100)):
        kafka_broker.create_topic(f"{prefix}-{suffix}")
        kafka_broker.produce(f"{prefix}-{suffix}", orders(10, start=start))
    path = write_spec(project.root, kafka_broker.bootstrap_servers, prefix,
                      source={"bootstrap_servers": kafka_broker.bootstrap_servers, "topic_pattern": f"^{prefix}-"})
    stats = job(project, path).run(RunOptions(until_caught_up=True, handle_signals=False))
    table = f"lake.{prefix.replace('-', '_')}"
    assert stats.messages == 20
    assert sorted(project.catalog.read(table).column("id").to_pylist()) == [*range(10), *range(100, 110)]
    assert read_position(project.catalog, table, prefix) == {f"{prefix}-eu/0": 10, f"{prefix}-us/0": 10}
