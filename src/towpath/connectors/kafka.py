"""A Kafka topic as a pipeline source: read the partitions from a start position to their end, in Arrow batches.

This is the bounded, batch side of Kafka (a pipeline job reading what a topic
holds now). Messages are decoded with the streaming room's batch decoder
(one Arrow JSON/CSV parse per batch); undecodable ones go to the pipeline's
error sink with the reader's reason. Each row carries `_topic`, `_partition`,
`_offset`, `_timestamp` and `_key`. For continuous, exactly-once ingestion
into a table use `towpath stream` instead: a pipeline source keeps no offsets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from towpath.pipeline import Source
from towpath.streaming import (
    ConsumerSettings,
    CsvFormat,
    JsonFormat,
    SourceConfig,
    consumer_config,
    decode,
    kafka,
    message_batch,
    message_table,
    recognise,
    start_offsets,
    topic_partitions,
)

POLL_S = 1.0


class KafkaSource(Source):
    """Reads every partition of the source's topics from `start` until each reports its end."""

    def __init__(
        self, source: SourceConfig, fmt: JsonFormat | CsvFormat, *, base: Path, batch_size: int = 50_000,
        group_id: str = "towpath-pipeline",
    ) -> None:
        self.source, self.fmt, self.base, self.batch_size = source, fmt, base, batch_size
        self.settings = ConsumerSettings(group_id, 64 * 1024 * 1024)

    def read(self) -> Iterator[pa.RecordBatch]:
        module = kafka()
        consumer = module.Consumer(consumer_config(self.source, self.base, self.settings))
        try:
            partitions = topic_partitions(consumer, self.source)
            starts = start_offsets(consumer, partitions, self.source.start)
            consumer.assign([module.TopicPartition(p.topic, p.partition, starts[p]) for p in partitions])
            ended: set[tuple[str, int]] = set()
            buffer: list[pa.RecordBatch] = []
            count = 0
            while len(ended) < len(partitions):
                good: list[Any] = []
                for message in consumer.consume(num_messages=self.batch_size - count, timeout=POLL_S):
                    error = message.error()
                    if error is None:
                        good.append(message)
                    elif error.code() == module.KafkaError._PARTITION_EOF:
                        ended.add((message.topic(), message.partition()))
                    elif error.fatal():
                        from towpath.streaming import KafkaError

                        raise KafkaError(f"Kafka client error: {error.str()}")
                if good:
                    buffer.append(message_batch(good))
                    count += len(good)
                if buffer and (count >= self.batch_size or len(ended) == len(partitions)):
                    yield from self._batches(message_table(buffer))
                    buffer, count = [], 0
        finally:
            consumer.close()

    def _batches(self, window: pa.Table) -> Iterator[pa.RecordBatch]:
        values = window.column("value")
        decoded = decode(values, self.fmt, None)
        meta = pa.table({
            "_topic": window.column("topic").cast(pa.string()), "_partition": window.column("partition"),
            "_offset": window.column("offset"), "_timestamp": window.column("timestamp").cast(pa.timestamp("ms", "UTC")),
            "_key": window.column("key"),
        })
        if decoded.errors and getattr(self, "ctx", None) is not None and self.ctx.errors is not None:
            at = pa.array([i for i, _ in decoded.errors], pa.int32())
            rejected = meta.take(at).append_column("_raw", values.take(at))
            self.ctx.errors.put(rejected, self.name or "kafka", pa.array([r for _, r in decoded.errors], pa.string()))
        rows = recognise(decoded.rows) if decoded.rows.num_rows else decoded.rows
        taken = meta.take(decoded.index)
        for name in taken.column_names:
            rows = rows.append_column(name, taken.column(name))
        if rows.num_rows:
            yield from rows.combine_chunks().to_batches()
