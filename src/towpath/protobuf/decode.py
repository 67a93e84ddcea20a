"""Protobuf key or value bytes -> an Arrow table with the columns they came from.

Decoding goes through the protobuf runtime's parser (upb, C) with the classes
compiled from the namespace's own `.proto`, so what towpath reads back is what
any consumer's generated code reads; the values are then turned back into the
columns' Arrow types (decimal text -> decimal, Timestamp -> timestamptz, ...).
Used for the audits of a new version (keys decode, sampled values match the
source) and to read a namespace as a table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pyarrow as pa

from towpath.errors import TowpathError
from towpath.protobuf.compile import CompiledSchema
from towpath.protobuf.schema import ProtoField, ProtoMessage
from towpath.protobuf.types import MapOf, MessageRef, ProtoType, Repeated, Scalar

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class DecodeError(TowpathError):
    """Bytes that are not a message of the namespace's schema."""


class Decoder:
    """Decodes one compiled schema's key and value bytes into Arrow tables."""

    def __init__(self, compiled: CompiledSchema) -> None:
        self.compiled = compiled

    def decode_keys(self, data: Iterable[bytes | None]) -> pa.Table:
        return self._decode(self.compiled.schema.key, self.compiled.key_class, data)

    def decode_values(self, data: Iterable[bytes | None]) -> pa.Table:
        """One row per value; a None (a key not found) becomes a row of nulls."""
        return self._decode(self.compiled.schema.value, self.compiled.value_class, data)

    def _decode(self, message: ProtoMessage, cls: Any, data: Iterable[bytes | None]) -> pa.Table:
        items = data.to_pylist() if isinstance(data, pa.Array | pa.ChunkedArray) else list(data)
        parsed: list[Any] = []
        for position, raw in enumerate(items):
            if raw is None:
                parsed.append(None)
                continue
            try:
                parsed.append(cls.FromString(raw))
            except Exception as exc:  # the runtime raises its own DecodeError type
                raise DecodeError(f"value {position} is not a {message.name}: {exc}") from exc
        top = message
        columns = [
            pa.array([None if m is None else _read(top, f, m) for m in parsed], type=_storage_type(f.arrow.type))
            for f in message.fields
        ]
        arrays = [_restore(f.arrow.type, col) for f, col in zip(message.fields, columns, strict=True)]
        return pa.Table.from_arrays(arrays, schema=pa.schema([f.arrow for f in message.fields]))


def _storage_type(dtype: pa.DataType) -> pa.DataType:
    return dtype.storage_type if isinstance(dtype, pa.BaseExtensionType) else dtype


def _restore(dtype: pa.DataType, array: pa.Array) -> pa.Array:
    if isinstance(dtype, pa.BaseExtensionType):
        return pa.ExtensionArray.from_storage(dtype, array)
    return array


def _read(top: ProtoMessage, f: ProtoField, message: Any) -> Any:
    if isinstance(f.type, Scalar | MessageRef) and _has_presence(f) and not message.HasField(f.name):
        return None
    return _value(top, f.type, f.arrow.type, getattr(message, f.name))


def _has_presence(f: ProtoField) -> bool:
    return f.optional or isinstance(f.type, MessageRef) or (isinstance(f.type, Scalar) and f.type.conversion == "timestamp_tz")


def _value(top: ProtoMessage, kind: ProtoType, dtype: pa.DataType, value: Any) -> Any:
    if isinstance(kind, Scalar):
        return _scalar(kind, dtype, value)
    if isinstance(kind, Repeated):
        element = dtype.value_type
        return [_value(top, kind.element, element, v) for v in value]
    if isinstance(kind, MapOf):
        return [
            (_scalar(kind.key, dtype.key_type, k), _value(top, kind.value, dtype.item_type, v)) for k, v in value.items()
        ]
    nested = top.message(kind)
    if kind.wrapper:
        only = nested.fields[0]
        return _value(top, only.type, dtype, getattr(value, only.name))
    return {f.arrow.name: _read(top, f, value) for f in nested.fields}



def _scalar(kind: Scalar, dtype: pa.DataType, value: Any) -> Any:
    conversion = kind.conversion
    if conversion == "decimal":
        return Decimal(value)
    if conversion == "uuid":
        return uuid.UUID(value).bytes
    if conversion == "date":
        return dt.date(1970, 1, 1) + dt.timedelta(days=value)
    if conversion == "time":
        return _cast_ticks(value, pa.time64("us"), dtype)
    if conversion == "timestamp":
        unit = "ns" if dtype.unit == "ns" else "us"
        return _cast_ticks(value, pa.timestamp(unit), dtype)
    if conversion == "timestamp_tz":
        if dtype.unit == "ns":
            return pa.scalar(value.seconds * 1_000_000_000 + value.nanos, pa.timestamp("ns", tz=dtype.tz))
        return _EPOCH + dt.timedelta(seconds=value.seconds, microseconds=value.nanos // 1000)
    return value


def _cast_ticks(value: int, source: pa.DataType, target: pa.DataType) -> Any:
    return pa.scalar(value, pa.int64()).cast(source).cast(target)


def comparable(value: Any) -> Any:
    """A Python value as protobuf can represent it: a null list or map is empty, map entries are unordered.

    Compare a source row with what was decoded from the store through this.
    """
    if value is None:
        return None
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return sorted(((k, comparable(v)) for k, v in value), key=lambda kv: repr(kv[0]))
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    return value
