"""Kafka messages as Arrow columns: what a window keeps of what the client returned.

confluent-kafka hands back one `Message` object per message; each is a
garbage-collected Python object of about 350 bytes (its own `topic` string,
value bytes, key, timestamp tuple). Holding a 100k-message window of them
costs several times the data's size and makes the cyclic garbage collector
walk them over and over (measured: consume's CPU quadrupled). So each
consumed batch is turned at once into one Arrow record batch (value, key,
topic, partition, offset, timestamp) and the `Message` objects are dropped
while still young. Everything downstream (decoding, the Kafka columns, dead
letters) works on these columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

TOPIC = pa.dictionary(pa.int32(), pa.string())
SCHEMA = pa.schema([
    ("value", pa.binary()), ("key", pa.binary()), ("topic", TOPIC), ("partition", pa.int32()),
    ("offset", pa.int64()), ("timestamp", pa.int64()),
])
"""`timestamp` is the message's (milliseconds since the epoch; null when the broker set none)."""


def message_batch(messages: Sequence[Any], topic: str | None = None) -> pa.RecordBatch:
    """The client's messages (none of them an error event) as one record batch of `SCHEMA`.

    `topic`: the one topic all of them come from, when the reader knows it (one call per message less).
    """
    stamps = [m.timestamp()[1] for m in messages]
    if topic is None:
        topics = pa.array([m.topic() for m in messages], pa.string()).dictionary_encode()
    else:
        topics = pa.DictionaryArray.from_arrays(pa.nulls(len(messages), pa.int32()).fill_null(0), pa.array([topic]))
    return pa.record_batch([
        pa.array([m.value() for m in messages], pa.binary()),
        pa.array([m.key() for m in messages], pa.binary()),
        topics,
        pa.array([m.partition() for m in messages], pa.int32()),
        pa.array([m.offset() for m in messages], pa.int64()),
        pa.array(stamps, pa.int64(), mask=[s <= 0 for s in stamps] if min(stamps, default=1) <= 0 else None),
    ], schema=SCHEMA)


def message_table(batches: Sequence[pa.RecordBatch]) -> pa.Table:
    """A window's batches as one table (no copy: the batches become its chunks)."""
    return pa.Table.from_batches(batches, SCHEMA)


def stamps(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Message timestamps (int64 milliseconds) as `timestamp[us, UTC]`."""
    return column.cast(pa.timestamp("ms", "UTC")).cast(pa.timestamp("us", "UTC"))
