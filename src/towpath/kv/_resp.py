"""RESP (the Redis wire protocol) for whole batches, built from Arrow buffers in C, not per row in Python.

`put_batch` into Redis is the hot path of `towpath move`: redis-py packs each
argument of each command in Python (~1 µs a field), which alone would cap a
move near 300k rows/s. Here every `$len\\r\\nkey\\r\\n$len\\r\\nvalue\\r\\n` of a
batch is one `binary_join_element_wise` over the key and value columns; rows
are ordered by bucket with one `take`, and the batch's `HSET`s (a header per
bucket, then its slice of that buffer) are copied once into one send buffer.

A key's bucket is its CRC-32 (zlib's) modulo the bucket count, computed for a
whole column at once: one table lookup per byte position over every key still
that long (keys sorted by length, so each step is a contiguous slice), about
ten numpy steps for a protobuf-encoded integer key instead of a Python call
per key.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["bucket_of", "buckets_of", "crc32_of", "packed_batch", "to_binary_array"]

_SEP = [pa.scalar(s, pa.binary()) for s in (b"$", b"\r\n", b"\r\n$", b"")]


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1).astype(np.uint32)
    return table


_CRC_TABLE = _crc_table()
"""zlib's CRC-32 (reflected polynomial 0xEDB88320), one byte at a time."""


def bucket_of(key: bytes, buckets: int) -> int:
    """The bucket (0 .. buckets-1) a key lives in: CRC-32 of the key, the same in every client."""
    return zlib.crc32(key) % buckets


def crc32_of(keys: pa.BinaryArray) -> np.ndarray:
    """`zlib.crc32` of every value of a binary array (no nulls), as uint32, without a Python call per key."""
    n = len(keys)
    offsets = np.frombuffer(keys.buffers()[1], dtype=np.int32, count=n + 1, offset=keys.offset * 4)
    data_buffer = keys.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    order = np.argsort(lengths, kind="stable")
    starts, lengths = starts[order].astype(np.int64), lengths[order]
    crc = np.full(n, 0xFFFFFFFF, dtype=np.uint32)
    longest = int(lengths[-1]) if n else 0
    for position in range(longest):
        first = int(np.searchsorted(lengths, position, side="right"))  # keys longer than `position`
        live = crc[first:]
        crc[first:] = _CRC_TABLE[(live ^ data[starts[first:] + position]) & 0xFF] ^ (live >> 8)
    out = np.empty(n, dtype=np.uint32)
    out[order] = crc ^ np.uint32(0xFFFFFFFF)
    return out


def buckets_of(keys: pa.BinaryArray | Sequence[bytes], buckets: int) -> np.ndarray:
    """`bucket_of` for every key, as an int64 array."""
    return crc32_of(to_binary_array(keys)).astype(np.int64) % buckets


def to_binary_array(values: pa.Array | pa.ChunkedArray | Sequence[bytes]) -> pa.BinaryArray:
    """`values` as one `pa.binary()` array (large/chunked arrays and lists of bytes converted once)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.binary() else values.cast(pa.binary())
    return pa.array(values, pa.binary())


def packed_batch(
    keys: pa.BinaryArray, values: pa.BinaryArray, bucket_ids: np.ndarray, bucket_key: list[bytes],
) -> tuple[list[int], bytearray, list[int]]:
    """Every bucket's `HSET` of a batch in one buffer: (buckets present, the buffer, command i's [start, end) bounds)."""
    order = np.argsort(bucket_ids, kind="stable")
    sorted_ids = bucket_ids[order]
    take = pa.array(order)
    k, v = keys.take(take), values.take(take)
    dollar, crlf, crlf_dollar, empty = _SEP
    klen = pc.cast(pc.cast(pc.binary_length(k), pa.string()), pa.binary())
    vlen = pc.cast(pc.cast(pc.binary_length(v), pa.string()), pa.binary())
    fields = pc.binary_join_element_wise(dollar, klen, crlf, k, crlf_dollar, vlen, crlf, v, crlf, empty)
    offsets = np.frombuffer(fields.buffers()[1], dtype=np.int32, count=len(fields) + 1, offset=fields.offset * 4)
    data = memoryview(fields.buffers()[2])
    present, starts = np.unique(sorted_ids, return_index=True)
    ends = np.append(starts[1:], len(sorted_ids))
    headers = [b"*%d\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n" % (2 + 2 * (end - start), len(bucket_key[b]), bucket_key[b])
               for b, start, end in zip(present.tolist(), starts.tolist(), ends.tolist())]
    begin, finish = offsets[starts].tolist(), offsets[ends].tolist()
    payload = bytearray(sum(map(len, headers)) + int(offsets[-1] - offsets[0]))
    bounds = [0]
    at = 0
    for header, lo, hi in zip(headers, begin, finish):
        payload[at:at + len(header)] = header
        at += len(header)
        payload[at:at + hi - lo] = data[lo:hi]
        at += hi - lo
        bounds.append(at)
    return present.tolist(), payload, bounds
