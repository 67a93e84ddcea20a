"""Protobuf wire format assembled with numpy, one column at a time.

Every function returns a `pa.LargeBinaryArray` holding, per row, the bytes one
field contributes to its message (empty where the field is omitted). Rows are
never visited in Python: varints are built as an (n, width) byte matrix whose
valid cells are gathered with one boolean mask, and length-delimited fields are
an encoded header joined to their payload by Arrow's C++ `binary_join`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
U64 = npt.NDArray[np.uint64]
BOOLS = npt.NDArray[np.bool_]
_EMPTY = b""
_SEPARATOR = pa.scalar(b"", pa.large_binary())


def tag_bytes(number: int, wire_type: int) -> bytes:
    """The encoded key of a field: varint(number << 3 | wire_type)."""
    return varint_bytes((number << 3) | wire_type)


def varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint_widths(values: U64) -> npt.NDArray[np.int64]:
    """Bytes each value's varint takes (1..10)."""
    widths = np.ones(len(values), dtype=np.int64)
    largest = int(values.max()) if len(values) else 0
    for k in range(1, 10):
        if largest < 1 << (7 * k):
            break
        widths += values >= np.uint64(1 << (7 * k))
    return widths


def binary_from(offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]) -> pa.LargeBinaryArray:
    """A large-binary array over numpy offsets and bytes, without copying them."""
    n = len(offsets) - 1
    return pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _gather(matrix: npt.NDArray[np.uint8], lengths: npt.NDArray[np.int64]) -> pa.LargeBinaryArray:
    """Row r keeps the first lengths[r] bytes of matrix[r]."""
    mask = np.arange(matrix.shape[1], dtype=np.int64)[None, :] < lengths[:, None]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return binary_from(offsets, np.ascontiguousarray(matrix[mask]))


def _varint_matrix(values: U64, prefix: bytes) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    widths = varint_widths(values)
    width = int(widths.max()) if len(widths) else 1
    matrix = np.empty((len(values), len(prefix) + width), dtype=np.uint8)
    if prefix:
        matrix[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    rest = values.copy()
    for k in range(width):
        byte = (rest & np.uint64(0x7F)).astype(np.uint8)
        byte[widths > k + 1] |= 0x80
        matrix[:, len(prefix) + k] = byte
        rest >>= np.uint64(7)
    return matrix, widths + len(prefix)


def varints(values: U64, prefix: bytes = _EMPTY, omit: BOOLS | None = None) -> pa.LargeBinaryArray:
    """prefix + varint(value) per row; nothing where `omit`."""
    matrix, lengths = _varint_matrix(values, prefix)
    if omit is not None:
        lengths = np.where(omit, 0, lengths)
    return _gather(matrix, lengths)


def fixed(raw: npt.NDArray[np.uint8], prefix: bytes = _EMPTY, omit: BOOLS | None = None) -> pa.LargeBinaryArray:
    """prefix + the row's little-endian bytes (an (n, 4|8) matrix); nothing where `omit`."""
    n, width = raw.shape
    matrix = np.empty((n, len(prefix) + width), dtype=np.uint8)
    matrix[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    matrix[:, len(prefix):] = raw
    if omit is None:
        return binary_from(np.arange(n + 1, dtype=np.int64) * matrix.shape[1], matrix.reshape(-1))
    return _gather(matrix, np.where(omit, 0, matrix.shape[1]))


def offsets_of(data: pa.LargeBinaryArray) -> npt.NDArray[np.int64]:
    """The row boundaries of a large-binary array (slice-aware, no copy)."""
    raw = np.frombuffer(data.buffers()[1], dtype=np.int64)
    return raw[data.offset: data.offset + len(data) + 1]


def lengths_of(data: pa.LargeBinaryArray) -> npt.NDArray[np.int64]:
    return np.diff(offsets_of(data))


def delimited(data: pa.LargeBinaryArray, prefix: bytes, omit: BOOLS | None = None) -> pa.LargeBinaryArray:
    """prefix + varint(len) + data per row (a string, bytes or embedded message field)."""
    return join(delimited_parts(data, prefix, omit))


def delimited_parts(
    data: pa.LargeBinaryArray, prefix: bytes, omit: BOOLS | None = None, *, empty_where_omitted: bool = False,
) -> list[pa.Array]:
    """The header and payload of a length-delimited field, for the message's one join.

    `empty_where_omitted`: the payload is already null or empty on every omitted
    row (a string column), so it needs no masking.
    """
    header = varints(lengths_of(data).astype(np.uint64), prefix, omit)
    if omit is None or empty_where_omitted:
        return [header, data]
    return [header, pc.if_else(pa.array(omit), pa.scalar(_EMPTY, pa.large_binary()), data)]


def join(parts: list[pa.Array]) -> pa.LargeBinaryArray:
    """Concatenate the parts row by row (the fields of one message in field-number order)."""
    if len(parts) == 1:
        return parts[0]
    joined: pa.LargeBinaryArray = pc.binary_join_element_wise(
        *parts, _SEPARATOR, null_handling="replace", null_replacement="",
    )
    return joined


def group(elements: pa.LargeBinaryArray, list_offsets: npt.NDArray[np.int64], valid: BOOLS | None) -> pa.LargeBinaryArray:
    """Concatenate consecutive elements into one value per list (a repeated field's bytes).

    The elements of one list are adjacent in `elements`, so the grouped array is
    the same data buffer with the list boundaries as offsets: no copy. A null
    list contributes nothing.
    """
    element_offsets = offsets_of(elements)
    offsets = element_offsets[list_offsets]
    base = int(offsets[0]) if len(offsets) else 0
    data = np.frombuffer(elements.buffers()[2] or b"", dtype=np.uint8)[base: int(offsets[-1]) if len(offsets) else 0]
    grouped = binary_from(offsets - base, np.ascontiguousarray(data))
    if valid is None or bool(valid.all()):
        return grouped
    return pc.if_else(pa.array(valid), grouped, pa.scalar(_EMPTY, pa.large_binary()))
