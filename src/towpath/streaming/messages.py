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
from operator import itemgetter
from typing import Any, cast

import numpy as np
import pyarrow as pa

TOPIC = pa.dictionary(pa.int32(), pa.string())
SCHEMA = pa.schema([
    ("value", pa.binary()), ("key", pa.binary()), ("topic", TOPIC), ("partition", pa.int32()),
    ("offset", pa.int64()), ("timestamp", pa.int64()),
])
"""`timestamp` is the message's (milliseconds since the epoch; null when the broker set none)."""
_second = itemgetter(1)


def message_batch(messages: Sequence[Any], topic: str | None = None) -> pa.RecordBatch:
    """The client's messages (none of them an error event) as one record batch of `SCHEMA`.

    `topic`: the one topic all of them come from, when the reader knows it (one call per message less).
    """
    return _batch(messages, topic)[0]


def _batch(messages: Sequence[Any], topic: str | None) -> tuple[pa.RecordBatch, bytes | None]:
    """`message_batch`, and the values joined one per line (None if one is missing, empty or holds a line break).

    Each field is read with one `map` over the unbound `Message` method (a C
    loop, no Python frame per message); the values become the Arrow column
    from one `b"".join` and their lengths, not through Arrow's per-object
    sequence conversion.
    """
    from confluent_kafka import Message

    n = len(messages)
    values: list[bytes | None] = list(map(Message.value, messages))
    lines: bytes | None = None
    if None in values:  # tombstones: rare; Arrow's conversion sets the validity bitmap
        value = pa.array(values, pa.binary())
    else:
        present = cast(list[bytes], values)
        lengths = np.fromiter(map(len, present), np.int64, n)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        value = pa.array(values, pa.binary()) if offsets[-1] >= 2**31 else pa.BinaryArray.from_buffers(
            pa.binary(), n, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(present))])
        joined = b"\n".join(present) + b"\n"
        if joined.count(b"\n") == n and b"\r" not in joined and lengths.min(initial=1) > 0:
            lines = joined
    keys = list(map(Message.key, messages))
    key = pa.nulls(n, pa.binary()) if keys.count(None) == n else pa.array(keys, pa.binary())
    if topic is None:
        topics = pa.array(list(map(Message.topic, messages)), pa.string()).dictionary_encode()
    else:
        topics = pa.DictionaryArray.from_arrays(pa.nulls(n, pa.int32()).fill_null(0), pa.array([topic]))
    stamps = np.fromiter(map(_second, map(Message.timestamp, messages)), np.int64, n)
    missing = stamps <= 0  # no timestamp (the broker set none): null
    batch = pa.record_batch([
        value, key, topics,
        pa.array(np.fromiter(map(Message.partition, messages), np.int32, n)),
        pa.array(np.fromiter(map(Message.offset, messages), np.int64, n)),
        pa.array(stamps, mask=missing if missing.any() else None),
    ], schema=SCHEMA)
    return batch, lines


class WindowBuffer:
    """The messages of the window being filled: Arrow batches, and their values one per line for the decoder.

    The lines are joined batch by batch as messages arrive (a copy of bytes
    already in hand), so the decoder parses them as they are instead of
    combining and re-joining a window's values in the commit path.
    """

    def __init__(self, topic: str | None = None) -> None:
        self.topic = topic
        self.batches: list[pa.RecordBatch] = []
        self._lines: list[bytes | None] = []
        self.count = 0
        self.size = 0
        """Bytes the values take as Arrow columns (data and offsets): what `window.max_bytes` bounds."""

    def add(self, messages: Sequence[Any]) -> None:
        batch, lines = _batch(messages, self.topic)
        self.batches.append(batch)
        self._lines.append(lines)
        self.count += batch.num_rows
        self.size += batch.column(0).nbytes

    def __bool__(self) -> bool:
        return bool(self.batches)

    def table(self) -> pa.Table:
        return message_table(self.batches)

    def lines(self) -> bytes | None:
        """Every value of the window, one per line; None when one of them cannot be a line of its own."""
        if any(part is None for part in self._lines):
            return None
        return b"".join(self._lines)  # type: ignore[arg-type]


def message_table(batches: Sequence[pa.RecordBatch]) -> pa.Table:
    """A window's batches as one table (no copy: the batches become its chunks)."""
    return pa.Table.from_batches(batches, SCHEMA)


def stamps(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Message timestamps (int64 milliseconds) as `timestamp[us, UTC]`."""
    return column.cast(pa.timestamp("ms", "UTC")).cast(pa.timestamp("us", "UTC"))
