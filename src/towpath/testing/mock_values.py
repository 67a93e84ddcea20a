"""Mock values, YAML -> Python: each Iceberg type's reader, exact (decimals from strings, offsets kept).

`to_python(value, kind)` turns one YAML value into what `pa.array(..., type=arrow_type(kind))`
takes, or raises a `ValueError` saying what was expected; the mock reader adds file, line,
column and row.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import uuid
from typing import Any

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

__all__ = ["to_python"]

_INT_RANGE: dict[type[IcebergType], tuple[int, int]] = {
    IntegerType: (-(2**31), 2**31 - 1),
    LongType: (-(2**63), 2**63 - 1),
}


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return type(value).__name__
    return repr(value)


def to_python(value: Any, kind: IcebergType) -> Any:
    """A YAML value as the Python value Arrow builds a column of `kind` from.

    Raises:
        ValueError: the value does not parse; the message says what was expected and what came.
    """
    if value is None:
        return None
    parse = _PARSERS.get(type(kind))
    if parse is not None:
        return parse(value, kind)
    raise ValueError(f"unsupported column type {kind}")


def _expect(what: str, value: Any, hint: str = "") -> ValueError:
    return ValueError(f"expected {what}, got {_shown(value)}{hint}")


def _bool(value: Any, kind: IcebergType) -> bool:
    if isinstance(value, bool):
        return value
    raise _expect("true or false", value)


def _int(value: Any, kind: IcebergType) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _expect("an integer", value)
    low, high = _INT_RANGE[type(kind)]
    if not low <= value <= high:
        raise ValueError(f"{value} is out of range for {'int' if isinstance(kind, IntegerType) else 'long'} "
                         f"[{low}, {high}]")
    return value


def _float(value: Any, kind: IcebergType) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _expect("a number", value, " (write .nan, .inf or -.inf for special values)")
    return float(value)


def _decimal(value: Any, kind: IcebergType) -> decimal.Decimal:
    assert isinstance(kind, DecimalType)
    if isinstance(value, (bool, float)) or not isinstance(value, (int, str)):
        raise _expect('a decimal as a string like "12.50"', value, " (a YAML float would be rounded)")
    try:
        number = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise _expect("a decimal", value) from None
    if not number.is_finite():
        raise _expect("a finite decimal", value)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > kind.scale:
        raise ValueError(f"{value!r} has more than {kind.scale} decimal places")
    number = number.quantize(decimal.Decimal(1).scaleb(-kind.scale))
    if len(number.as_tuple().digits) > kind.precision:
        raise ValueError(f"{value!r} has more than {kind.precision} digits")
    return number


def _date(value: Any, kind: IcebergType) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()) if isinstance(value, str) else _raise()
    except ValueError:
        raise _expect("a date like 2022-01-01", value) from None


def _time(value: Any, kind: IcebergType) -> dt.time:
    try:
        parsed = dt.time.fromisoformat(value.strip()) if isinstance(value, str) else _raise()
    except ValueError:
        raise _expect("a time like 12:30:00 or 12:30:00.123456", value) from None
    if parsed.tzinfo is not None:
        raise _expect("a time without a time zone", value)
    return parsed


def _timestamp(value: Any, kind: IcebergType) -> dt.datetime:
    with_zone = isinstance(kind, TimestamptzType)
    example = "2022-01-01T10:00:00+00:00" if with_zone else "2022-01-01T10:00:00"
    try:
        parsed = dt.datetime.fromisoformat(value.strip()) if isinstance(value, str) else _raise()
    except ValueError:
        raise _expect(f"a timestamp like {example}", value) from None
    if with_zone and parsed.tzinfo is None:
        raise _expect(f"a timestamp with a UTC offset like {example} (column type timestamptz)", value)
    if not with_zone and parsed.tzinfo is not None:
        raise _expect(f"a timestamp without a UTC offset like {example} (use timestamptz for instants)", value)
    return parsed.astimezone(dt.UTC) if with_zone else parsed


def _string(value: Any, kind: IcebergType) -> str:
    if isinstance(value, str):
        return value
    raise _expect("a string", value, f' (quote it: "{value}")' if not isinstance(value, (dict, list)) else "")


def _uuid(value: Any, kind: IcebergType) -> bytes:
    try:
        return uuid.UUID(value.strip()).bytes if isinstance(value, str) else _raise()
    except ValueError:
        raise _expect("a UUID like 123e4567-e89b-12d3-a456-426614174000", value) from None


def _binary(value: Any, kind: IcebergType) -> bytes:
    try:
        data = base64.b64decode(value, validate=True) if isinstance(value, str) else _raise()
    except ValueError:
        raise _expect("base64 text", value) from None
    if isinstance(kind, FixedType) and len(data) != len(kind):
        raise ValueError(f"expected {len(kind)} bytes, got {len(data)}")
    return data


def _list(value: Any, kind: IcebergType) -> list[Any]:
    assert isinstance(kind, ListType)
    if not isinstance(value, list):
        raise _expect("a list like [1, 2]", value)
    return [_nested(v, kind.element_type, f"[{i}]") for i, v in enumerate(value)]


def _map(value: Any, kind: IcebergType) -> list[tuple[Any, Any]]:
    assert isinstance(kind, MapType)
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        pairs = [(p[0], p[1]) for p in value]
    else:
        raise _expect("a mapping {k: v} or a list of [key, value] pairs", value)
    out = []
    for key, item in pairs:
        if key is None:
            raise ValueError("map keys cannot be null")
        out.append((_nested(key, kind.key_type, " key"), _nested(item, kind.value_type, f"[{key!r}]")))
    return out


def _struct(value: Any, kind: IcebergType) -> dict[str, Any]:
    assert isinstance(kind, StructType)
    if not isinstance(value, dict):
        raise _expect("a mapping of field: value", value)
    names = [f.name for f in kind.fields]
    for key in value:
        if key not in names:
            raise ValueError(f"unknown struct field '{key}'; fields: {', '.join(names)}")
    return {f.name: _nested(value.get(f.name), f.field_type, f".{f.name}") for f in kind.fields}


def _nested(value: Any, kind: IcebergType, where: str) -> Any:
    try:
        return to_python(value, kind)
    except ValueError as exc:
        raise ValueError(f"{where.strip()}: {exc}") from None


def _raise() -> Any:
    raise ValueError


_PARSERS: dict[type[IcebergType], Any] = {
    BooleanType: _bool,
    IntegerType: _int,
    LongType: _int,
    FloatType: _float,
    DoubleType: _float,
    DecimalType: _decimal,
    DateType: _date,
    TimeType: _time,
    TimestampType: _timestamp,
    TimestamptzType: _timestamp,
    StringType: _string,
    UUIDType: _uuid,
    FixedType: _binary,
    BinaryType: _binary,
    ListType: _list,
    MapType: _map,
    StructType: _struct,
}
