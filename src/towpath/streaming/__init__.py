"""Streaming room: Kafka topics into Iceberg tables, exactly-once, one commit per window.

`StreamSpec` is the `*.stream.yaml` job; `StreamJob.run` consumes the partitions
a worker owns from the offsets recorded in the table, decodes each window in
batches (bad messages to the dead-letter table), evolves the schema, commits
rows + dead letters + offsets in one Iceberg commit, fires alerts and compacts.
`stream_status` and `reset_stream` read and move the recorded offsets.
"""

from towpath.streaming.client import Partition, Worker, client_config
from towpath.streaming.errors import KafkaError, StreamError, StreamFencedError
from towpath.streaming.runner import RunOptions, StreamJob, StreamStats
from towpath.streaming.spec import StreamSpec, load_stream_spec
from towpath.streaming.status import PartitionStatus, ResetResult, StreamStatus, reset_stream, stream_status

__all__ = [
    "KafkaError",
    "Partition",
    "PartitionStatus",
    "ResetResult",
    "RunOptions",
    "StreamError",
    "StreamFencedError",
    "StreamJob",
    "StreamSpec",
    "StreamStats",
    "StreamStatus",
    "Worker",
    "client_config",
    "load_stream_spec",
    "reset_stream",
    "stream_status",
]
