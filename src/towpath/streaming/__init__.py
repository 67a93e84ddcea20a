"""Streaming room: Kafka topics into Iceberg tables, exactly-once, one commit per window.

`StreamSpec` is the `*.stream.yaml` job; `StreamJob.run` consumes the partitions
a worker owns from the offsets recorded in the table, decodes each window in
batches (bad messages to the dead-letter table), evolves the schema, commits
rows + dead letters + offsets in one Iceberg commit, fires alerts and compacts.
`stream_status` and `reset_stream` read and move the recorded offsets.
Names load on first use, so `import towpath.streaming` (and the spec models
the connectors room reuses) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from towpath.registry import lazy_exports

_EXPORTS: dict[str, str] = {
    "ConsumerSettings": "client",
    "Partition": "client",
    "Worker": "client",
    "client_config": "client",
    "consumer_config": "client",
    "kafka": "client",
    "start_offsets": "client",
    "topic_partitions": "client",
    "Decoded": "decoder",
    "decode": "decoder",
    "KafkaError": "errors",
    "message_batch": "messages",
    "message_table": "messages",
    "WindowBuffer": "messages",
    "StreamError": "errors",
    "StreamFencedError": "errors",
    "RunOptions": "runner",
    "StreamJob": "runner",
    "StreamStats": "runner",
    "recognise": "schema",
    "CsvFormat": "spec",
    "Format": "spec",
    "JsonFormat": "spec",
    "SecurityConfig": "spec",
    "SourceConfig": "spec",
    "StreamSpec": "spec",
    "load_stream_spec": "spec",
    "PartitionStatus": "status",
    "ResetResult": "status",
    "StreamStatus": "status",
    "reset_stream": "status",
    "stream_status": "status",
}

__all__ = [
    "ConsumerSettings",
    "CsvFormat",
    "Decoded",
    "Format",
    "JsonFormat",
    "KafkaError",
    "Partition",
    "PartitionStatus",
    "ResetResult",
    "RunOptions",
    "SecurityConfig",
    "SourceConfig",
    "StreamError",
    "StreamFencedError",
    "StreamJob",
    "StreamSpec",
    "StreamStats",
    "StreamStatus",
    "WindowBuffer",
    "Worker",
    "client_config",
    "consumer_config",
    "decode",
    "kafka",
    "load_stream_spec",
    "message_batch",
    "message_table",
    "recognise",
    "reset_stream",
    "start_offsets",
    "stream_status",
    "topic_partitions",
]

__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"towpath.streaming.{module}" for name, module in _EXPORTS.items()}, globals()
)

if TYPE_CHECKING:  # pragma: no cover
    from towpath.streaming.client import (
        ConsumerSettings,
        Partition,
        Worker,
        client_config,
        consumer_config,
        kafka,
        start_offsets,
        topic_partitions,
    )
    from towpath.streaming.decoder import Decoded, decode
    from towpath.streaming.errors import KafkaError, StreamError, StreamFencedError
    from towpath.streaming.messages import WindowBuffer, message_batch, message_table
    from towpath.streaming.runner import RunOptions, StreamJob, StreamStats
    from towpath.streaming.schema import recognise
    from towpath.streaming.spec import (
        CsvFormat,
        Format,
        JsonFormat,
        SecurityConfig,
        SourceConfig,
        StreamSpec,
        load_stream_spec,
    )
    from towpath.streaming.status import (
        PartitionStatus,
        ResetResult,
        StreamStatus,
        reset_stream,
        stream_status,
    )
