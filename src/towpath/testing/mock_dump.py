"""Mock text from Arrow rows: every value written so that `to_python` reads it back exactly."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import re
import struct
import uuid
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FixedType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
    TimeType,
    UUIDType,
)

from towpath.types import parse_type

__all__ = ["FORMAT_VERSION", "dump_mock", "format_value"]

FORMAT_VERSION = 1
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*( [A-Za-z0-9_./-]+)*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def dump_mock(
    table: str,
    columns: Sequence[tuple[str, str]],
    data: pa.Table,
    *,
    note: str | None = None,
) -> str:
    """The text of a mock of `table` holding `data`'s rows, typed by `columns` (name, Iceberg type string).

    `data`'s columns are taken by position; the mock reads back (`parse_mock`)
    to exactly the same values.
    """
    kinds = [parse_type(kind) for _, kind in columns]
    lines = [f"# Mock of {table} for unit tests (towpath mock format v{FORMAT_VERSION})."]
    if note:
        lines.extend(f"# {part}" for part in note.splitlines())
    lines.append(f"table: {table}")
    lines.append("columns:                      # name and Iceberg type, in order")
    for name, kind in columns:
        shown = kind if re.fullmatch(r"[a-z]+", kind) else json.dumps(kind)
        lines.append(f"  - {{name: {_text(name)}, type: {shown}}}")
    rows = list(zip(*(c.to_pylist() for c in data.columns), strict=True)) if data.num_columns else []
    if not rows:
        lines.append("rows: []")
    else:
        lines.append("rows:                         # one list per row, in column order; null for NULL")
        for row in rows:
            cells = ", ".join(format_value(v, k) for v, k in zip(row, kinds, strict=True))
            lines.append(f"  - [{cells}]")
    return "\n".join(lines) + "\n"


def _float32_text(number: float) -> str:
    """The shortest decimal that reads back to the same float32, in `repr` form (`0.1`, `100000.0`)."""
    single = struct.unpack("f", struct.pack("f", number))[0]
    for digits in range(1, 10):  # 9 significant digits always round-trip a float32
        text = f"{single:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            return repr(float(text))
    return repr(single)


def format_value(value: Any, kind: IcebergType) -> str:
    """One value as YAML flow text that `to_python` reads back to the same value."""
    if value is None:
        return "null"
    if isinstance(kind, BooleanType):
        return "true" if value else "false"
    if isinstance(kind, (IntegerType, LongType)):
        return str(int(value))
    if isinstance(kind, (FloatType, DoubleType)):
        number = float(value)
        if math.isnan(number):
            return ".nan"
        if math.isinf(number):
            return ".inf" if number > 0 else "-.inf"
        # float32 values print in their own shortest form (0.1, not 0.10000000149011612).
        text = _float32_text(number) if isinstance(kind, FloatType) else repr(number)
        return text if any(ch in text for ch in ".en") else f"{text}.0"
    if isinstance(kind, DecimalType):
        return f'"{decimal.Decimal(value):f}"'
    if isinstance(kind, (DateType, TimeType)):
        return str(value.isoformat())
    if isinstance(kind, TimestampType):
        return str(value.replace(tzinfo=None).isoformat()) if value.tzinfo is None else str(
            value.astimezone(dt.UTC).replace(tzinfo=None).isoformat())
    if isinstance(kind, TimestamptzType):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return str(aware.astimezone(dt.UTC).isoformat())
    if isinstance(kind, StringType):
        return _text(str(value))
    if isinstance(kind, UUIDType):
        text = str(value) if isinstance(value, uuid.UUID) else str(uuid.UUID(bytes=value) if isinstance(value, bytes)
                                                                   else uuid.UUID(str(value)))
        return json.dumps(text)
    if isinstance(kind, (BinaryType, FixedType)):
        return json.dumps(base64.b64encode(bytes(value)).decode("ascii"))
    if isinstance(kind, ListType):
        return "[" + ", ".join(format_value(v, kind.element_type) for v in value) + "]"
    if isinstance(kind, MapType):
        pairs = list(value.items()) if isinstance(value, dict) else list(value)
        if isinstance(kind.key_type, StringType):
            return "{" + ", ".join(f"{_text(str(k))}: {format_value(v, kind.value_type)}" for k, v in pairs) + "}"
        return "[" + ", ".join(
            f"[{format_value(k, kind.key_type)}, {format_value(v, kind.value_type)}]" for k, v in pairs
        ) + "]"
    if isinstance(kind, StructType):
        return "{" + ", ".join(
            f"{_text(f.name)}: {format_value(value.get(f.name), f.field_type)}" for f in kind.fields
        ) + "}"
    raise ValueError(f"unsupported column type {kind}")


def _text(value: str) -> str:
    """A string plain when YAML reads it back as the same string, else double-quoted."""
    if _PLAIN.match(value) and value.lower() not in _RESERVED:
        return value
    return json.dumps(value, ensure_ascii=False)
