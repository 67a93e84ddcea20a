"""The `kafka` connector as a pipeline source: a bounded read of a topic, with bad messages routed as errors."""

from __future__ import annotations

import pyarrow as pa
from stream_data import new_topic, orders

import services
from towpath.connectors import CONNECTORS, ConnectorEnv
from towpath.pipeline import Pipeline, Sink


class Collect(Sink):
    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []

    def write(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)


class Rejected(Sink):
    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []

    def write(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)


def test_kafka_source_reads_a_topic_to_its_end(kafka_broker: services.KafkaBroker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    topic = new_topic("src")
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, orders(100, bad_every=25), partitions=2)
    connector = CONNECTORS.get("kafka")
    assert connector.SOURCE is not None
    spec = connector.SOURCE.model_validate({
        "type": "kafka", "batch_size": 30,
        "source": {"bootstrap_servers": kafka_broker.bootstrap_servers, "topics": [topic]},
    })
    sink, errors = Collect(), Rejected()
    stats = Pipeline([connector.source(spec, ConnectorEnv(base=tmp_path)), sink], name="k", errors=errors).run()
    rows = pa.Table.from_batches(sink.batches)
    assert rows.num_rows == 96 and sorted(rows.column("id").to_pylist()) == [i for i in range(100) if i % 25 != 24]
    assert {"_topic", "_partition", "_offset", "_timestamp", "_key"} <= set(rows.column_names)
    assert str(rows.schema.field("created_at").type).startswith("timestamp")
    assert stats.rows_error == 4
