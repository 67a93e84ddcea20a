"""RESP (the Redis wire protocol) for whole batches, built from Arrow buffers in C, not per row in Python.

`put_batch` into Redis is the hot path of `towpath move`: redis-py packs each
argument of each command in Python (~1 µs a field), which alone would cap a
move near 300k rows/s. Here every `$len\\r\\nkey\\r\\n$len\\r\\nvalue\\r\\n` of a
batch is one `binary_join_element_wise` over the key and value columns; rows
are ordered by bucket with one `take`, and each bucket's `HSET` is its header
plus one slice of that buffer.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["bucket_of", "buckets_of", "packed_hset", "to_binary_array"]

_SEP = [pa.scalar(s, pa.binary()) for s in (b"$", b"\r\n", b"\r\n$", b"")]


def bucket_of(key: bytes, buckets: int) -> int:
    """The bucket (0 .. buckets-1) a key lives in: CRC-32 of the key, the same in every client."""
    return zlib.crc32(key) % buckets


def buckets_of(keys: Sequence[bytes], buckets: int) -> np.ndarray:
    """`bucket_of` for every key, as an int64 array."""
    crc = zlib.crc32
    return np.fromiter((crc(k) for k in keys), dtype=np.int64, count=len(keys)) % buckets


def to_binary_array(values: pa.Array | Sequence[bytes]) -> pa.BinaryArray:
    """`values` as one `pa.binary()` array (large/chunked arrays and lists of bytes converted once)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.binary() else values.cast(pa.binary())
    return pa.array(values, pa.binary())


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def packed_hset(
    keys: pa.BinaryArray, values: pa.BinaryArray, bucket_ids: np.ndarray, bucket_key: list[bytes],
) -> list[tuple[int, bytes]]:
    """One packed `HSET <bucket_key[b]> k1 v1 k2 v2 ...` per bucket present, as (bucket, command bytes)."""
    order = np.argsort(bucket_ids, kind="stable")
    sorted_ids = bucket_ids[order]
    take = pa.array(order)
    k, v = keys.take(take), values.take(take)
    dollar, crlf, crlf_dollar, empty = _SEP
    klen = pc.cast(pc.cast(pc.binary_length(k), pa.string()), pa.binary())
    vlen = pc.cast(pc.cast(pc.binary_length(v), pa.string()), pa.binary())
    fields = pc.binary_join_element_wise(dollar, klen, crlf, k, crlf_dollar, vlen, crlf, v, crlf, empty)
    offsets = np.frombuffer(fields.buffers()[1], dtype=np.int32, count=len(fields) + 1, offset=fields.offset * 4)
    data = fields.buffers()[2]
    present, starts = np.unique(sorted_ids, return_index=True)
    ends = np.append(starts[1:], len(sorted_ids))
    out: list[tuple[int, bytes]] = []
    for bucket, start, end in zip(present.tolist(), starts.tolist(), ends.tolist()):
        name = bucket_key[bucket]
        header = b"*%d\r\n$4\r\nHSET\r\n%s" % (2 + 2 * (end - start), _bulk(name))
        out.append((bucket, header + data[int(offsets[start]):int(offsets[end])].to_pybytes()))
    return out
