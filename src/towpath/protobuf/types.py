"""The protobuf types a table column becomes, and why each mapping was chosen.

| Iceberg / Arrow | proto3 | value on the wire |
| --- | --- | --- |
| boolean | `bool` | |
| int (and smaller ints) | `int32` | |
| long | `int64` | |
| float / double | `float` / `double` | |
| decimal(p, s) | `string` | the exact decimal text (`"-12.50"`): no float rounding, readable in every language |
| date | `int32` | days since 1970-01-01 |
| time | `int64` | microseconds since midnight |
| timestamp (no zone) | `int64` | microseconds since 1970-01-01 of the wall-clock time (nanoseconds for `timestamp_ns`): not an instant, so not `Timestamp` |
| timestamptz | `google.protobuf.Timestamp` | the instant (seconds + nanos, UTC) |
| string | `string` | |
| uuid | `string` | canonical lower-case 8-4-4-4-12 text |
| binary / fixed(n) | `bytes` | |
| struct | nested message | |
| list<T> | `repeated T` (a list of lists or maps: `repeated` of a wrapper message with one field `items`/`entries`) | |
| map<K, V> | `map<K, V>` (V a map or list: a wrapper message); K must map to an integer or `string` | |

A nullable scalar is a proto3 `optional` field (presence kept: null and 0 differ);
messages always have presence. KeyMessage fields are `optional` as well, so a key
of 0 or "" still has bytes (key-value stores refuse an empty key) and each key
has one encoding. A null list or map reads as empty: protobuf has no
null repeated field. Null list elements and null map values cannot be represented
and are refused when encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from towpath.protobuf._wire import FIXED32, FIXED64, LEN, VARINT

TIMESTAMP = "google.protobuf.Timestamp"


@dataclass(frozen=True)
class Scalar:
    """A proto scalar (or the well-known Timestamp) and how Arrow values become it."""

    proto: str
    """The type written in the `.proto` (`int64`, `string`, `google.protobuf.Timestamp`)."""
    conversion: str
    """How Arrow values are turned into wire values (`int`, `decimal`, `uuid`, `timestamp_tz`, ...)."""
    wire_type: int

    @property
    def packable(self) -> bool:
        return self.wire_type != LEN

    @property
    def map_key(self) -> bool:
        return self.proto in {"int32", "int64", "uint32", "uint64", "bool", "string"}


@dataclass(frozen=True)
class Repeated:
    element: ProtoType


@dataclass(frozen=True)
class MapOf:
    key: Scalar
    value: ProtoType


@dataclass(frozen=True)
class MessageRef:
    """A nested message (a struct, or a wrapper around a list or map)."""

    name: str
    """The nested message's name inside its parent (`Address`, `TagsEntry`)."""
    path: str
    """Its path from the top message (`ValueMessage.Address`), the key of its field numbers."""
    wrapper: bool = False
    """True for the one-field wrapper of a nested list or map (its field is number 1)."""


ProtoType = Scalar | Repeated | MapOf | MessageRef

BOOL = Scalar("bool", "bool", VARINT)
INT32 = Scalar("int32", "int", VARINT)
INT64 = Scalar("int64", "int", VARINT)
UINT32 = Scalar("uint32", "int", VARINT)
UINT64 = Scalar("uint64", "int", VARINT)
FLOAT = Scalar("float", "float", FIXED32)
DOUBLE = Scalar("double", "float", FIXED64)
STRING = Scalar("string", "string", LEN)
BYTES = Scalar("bytes", "bytes", LEN)
DECIMAL = Scalar("string", "decimal", LEN)
UUID = Scalar("string", "uuid", LEN)
DATE = Scalar("int32", "date", VARINT)
TIME = Scalar("int64", "time", VARINT)
TIMESTAMP_NAIVE = Scalar("int64", "timestamp", VARINT)
TIMESTAMP_TZ = Scalar(TIMESTAMP, "timestamp_tz", LEN)


def scalar_for(dtype: pa.DataType) -> Scalar | None:
    """The proto scalar of an Arrow primitive type, or None for nested/unsupported ones."""
    if isinstance(dtype, pa.BaseExtensionType):
        return UUID if dtype.extension_name == "arrow.uuid" else scalar_for(dtype.storage_type)
    if pa.types.is_boolean(dtype):
        return BOOL
    if pa.types.is_int8(dtype) or pa.types.is_int16(dtype) or pa.types.is_int32(dtype):
        return INT32
    if pa.types.is_uint8(dtype) or pa.types.is_uint16(dtype) or pa.types.is_uint32(dtype):
        return UINT32
    if pa.types.is_int64(dtype):
        return INT64
    if pa.types.is_uint64(dtype):
        return UINT64
    if pa.types.is_float32(dtype) or pa.types.is_float16(dtype):
        return FLOAT
    if pa.types.is_float64(dtype):
        return DOUBLE
    if pa.types.is_decimal(dtype):
        return DECIMAL
    if pa.types.is_date(dtype):
        return DATE
    if pa.types.is_time(dtype):
        return TIME
    if pa.types.is_timestamp(dtype):
        return TIMESTAMP_TZ if dtype.tz is not None else TIMESTAMP_NAIVE
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return STRING
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_fixed_size_binary(dtype):
        return BYTES
    if pa.types.is_binary_view(dtype):
        return BYTES
    if pa.types.is_dictionary(dtype):
        return scalar_for(dtype.value_type)
    return None


def is_list(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_fixed_size_list(dtype))
