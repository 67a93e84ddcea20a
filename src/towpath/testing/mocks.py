"""The YAML mock format (v1): load a mock into Arrow, and write Arrow rows as a mock.

One file holds one table: its name, its columns with Iceberg type strings, and
its rows as flow-style lists in column order (see docs/testing.md)::

    table: some_db.source_table
    columns:
      - {name: title_id, type: int}
      - {name: date, type: date}
    rows:
      - [11111111, 2022-01-01]

Values are written so they read back *exactly*: decimals are strings (a YAML
float would round them), timestamps are ISO 8601 text (UTC offset for
`timestamptz`), binary is base64, maps with non-string keys are `[[k, v], ...]`.
YAML's own timestamp resolution is switched off while loading: ruamel would
turn `2022-01-01T10:00:00+02:00` into a naive UTC datetime and lose the offset,
so every date and time arrives as the text the user wrote and is parsed by the
column's declared type instead.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import difflib
import json
import math
import re
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.schema import Schema
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
from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from towpath.errors import SpecError
from towpath.types import TypeNameError, arrow_type, iceberg_schema, parse_type

__all__ = ["FORMAT_VERSION", "Mock", "MockError", "check_mock", "dump_mock", "load_mock", "parse_mock"]

FORMAT_VERSION = 1
_KEYS = ("table", "columns", "rows")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*( [A-Za-z0-9_./-]+)*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}
_INT_RANGE: dict[type[IcebergType], tuple[int, int]] = {
    IntegerType: (-(2**31), 2**31 - 1),
    LongType: (-(2**63), 2**63 - 1),
}


class MockError(SpecError):
    """A mock file is malformed or a value does not fit its column; names file, line, column and row.

    `column` and `row` (0-based index into `rows`) are kept as attributes too.
    """

    def __init__(
        self,
        msg: str,
        *,
        file: Path | str | None = None,
        line: int | None = None,
        col: int | None = None,
        column: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        if field is None and row is not None:
            field = f"rows[{row}]" + (f".{column}" if column else "")
        elif field is None and column is not None:
            field = f"column '{column}'"
        super().__init__(msg, file=file, line=line, col=col, field=field)
        self.column, self.row = column, row


@dataclass(frozen=True)
class Mock:
    """A loaded mock: the table it stands for, its declared columns and its rows as Arrow."""

    table: str
    """`db.table` the mock stands for."""
    columns: list[tuple[str, str]]
    """`(name, Iceberg type string)` in file order."""
    data: pa.Table
    """The rows, with the Arrow types the declared Iceberg types map to."""
    path: Path | None = None
    row_lines: tuple[int, ...] = ()
    """1-based line of each row in the file (for reports that point at a row)."""
    column_lines: tuple[int, ...] = ()
    """1-based line of each entry of `columns`."""

    @cached_property
    def schema(self) -> Schema:
        """The Iceberg schema the columns declare (all columns optional)."""
        return iceberg_schema(self.columns)

    @property
    def types(self) -> dict[str, str]:
        return dict(self.columns)


class _TextTimestamps(RoundTripConstructor):
    """ruamel's round-trip constructor, but YAML timestamps stay text (see the module docstring)."""


_TextTimestamps.add_constructor("tag:yaml.org,2002:timestamp", lambda self, node: self.construct_scalar(node))


def load_mock(path: Path | str) -> Mock:
    """Load a mock file.

    Raises:
        MockError: the file is missing or not valid YAML, a key is missing or
            unknown, a type string is not an Iceberg type, a row has the wrong
            number of values, or a value does not parse as its column's type;
            always with file:line:column, and the column and row where it applies.
    """
    path = Path(path)
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        text = path.read_text()
    except FileNotFoundError:
        raise MockError("mock file not found", file=path) from None
    except OSError as exc:
        raise MockError(f"cannot read mock file: {exc.strerror}", file=path) from None
    mock = parse_mock(text, path)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = mock
    return mock


_CACHE: dict[tuple[str, int, int], Mock] = {}
"""Loaded mocks by (file, mtime, size): a test loads the same expected mock for the job and the
comparison, and a test module loads the same inputs in every test. `Mock` is frozen and Arrow
tables are immutable, so sharing is safe; an edited file has a new key."""
_CACHE_SIZE = 128


def parse_mock(text: str, path: Path | str | None = None) -> Mock:
    """Parse the text of a mock (what `load_mock` does after reading the file)."""
    mock, _ = _parse(text, path, collect=False)
    return mock


def check_mock(path: Path | str) -> tuple[Mock | None, list[MockError]]:
    """Load a mock and collect *every* bad value instead of stopping at the first.

    Returns the mock (bad values as nulls) and the value errors; a structural
    problem (bad YAML, a missing key, an unknown type, a row of the wrong
    length) is returned alone, with no mock.
    """
    path = Path(path)
    try:
        return _parse(path.read_text(), path, collect=True)
    except FileNotFoundError:
        return None, [MockError("mock file not found", file=path)]
    except MockError as exc:
        return None, [exc]


def _parse(text: str, path: Path | str | None, *, collect: bool) -> tuple[Mock, list[MockError]]:
    where = Path(path) if path is not None else Path("<mock>")
    yaml = YAML(typ="rt")
    yaml.Constructor = _TextTimestamps
    try:
        tree = yaml.load(text)
    except MarkedYAMLError:
        from towpath.config import load_yaml  # the same positions and hints as every other YAML file

        try:
            load_yaml(where, text)
        except SpecError as exc:
            raise MockError(exc.msg, file=where, line=exc.line, col=exc.col) from None
        raise
    reader = _Reader(where, tree, collect=collect)
    return reader.read(), reader.problems


class _Reader:
    """One parse of one mock document, keeping the marked tree for positions."""

    def __init__(self, path: Path, tree: Any, *, collect: bool = False) -> None:
        self.path, self.tree, self.collect = path, tree, collect
        self.problems: list[MockError] = []

    def error(self, msg: str, node: Any = None, key: Any = None, *, at_key: bool = False, **where: Any) -> MockError:
        line, col = _position(node, key, at_key=at_key)
        return MockError(msg, file=self.path, line=line, col=col, **where)

    def read(self) -> Mock:
        tree = self.tree
        if not isinstance(tree, dict):
            raise self.error("a mock must be a mapping with 'table', 'columns' and 'rows'")
        for key in tree:
            if key not in _KEYS:
                close = difflib.get_close_matches(str(key), _KEYS, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; allowed: {', '.join(_KEYS)}"
                raise self.error(f"unknown key '{key}'{hint}", tree, key, at_key=True, field=str(key))
        for key in _KEYS:
            if key not in tree:
                hint = " (write 'rows: []' for an empty table)" if key == "rows" else ""
                raise self.error(f"missing required key '{key}'{hint}", field=key)
        table = tree["table"]
        if not isinstance(table, str) or "." not in table.strip(".") or " " in table.strip():
            raise self.error(f"expected 'db.table', got {table!r}", tree, "table", field="table")
        columns = self.columns(tree["columns"], tree)
        rows = tree["rows"]
        if not isinstance(rows, list):
            got = "nothing" if rows is None else type(rows).__name__
            raise self.error(f"expected a list of rows ('rows: []' for an empty table), got {got}", tree, "rows",
                             field="rows")
        kinds = [parse_type(kind) for _, kind in columns]
        values: list[list[Any]] = [[] for _ in columns]
        lines = []
        for r, row in enumerate(rows):
            lines.append(_position(rows, r)[0] or 0)
            if not isinstance(row, list):
                raise self.error(f"expected a row as a list of {len(columns)} values, got {_shown(row)}",
                                 rows, r, row=r)
            if len(row) != len(columns):
                names = ", ".join(name for name, _ in columns)
                raise self.error(f"expected {len(columns)} values ({names}), got {len(row)}", rows, r, row=r)
            for c, ((name, type_text), kind) in enumerate(zip(columns, kinds, strict=True)):
                try:
                    values[c].append(to_python(_plain(row[c]), kind))
                except ValueError as exc:
                    problem = self.error(f"{exc} (column type {type_text})", row, c, column=name, row=r)
                    if not self.collect:
                        raise problem from None
                    self.problems.append(problem)
                    values[c].append(None)
        arrays = [pa.array(v, type=arrow_type(k)) for v, k in zip(values, kinds, strict=True)]
        schema = pa.schema([pa.field(name, arrow_type(k)) for (name, _), k in zip(columns, kinds, strict=True)])
        data = pa.Table.from_arrays(arrays, schema=schema)
        column_lines = tuple(_position(tree["columns"], i)[0] or 0 for i in range(len(columns)))
        return Mock(table.strip().lower(), columns, data, self.path, tuple(lines), column_lines)

    def columns(self, node: Any, tree: Any) -> list[tuple[str, str]]:
        if not isinstance(node, list) or not node:
            raise self.error("expected a list of columns like '- {name: id, type: long}'", tree, "columns",
                             field="columns")
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for i, item in enumerate(node):
            field = f"columns[{i}]"
            if not isinstance(item, dict) or set(item) != {"name", "type"}:
                raise self.error(f"expected '{{name: ..., type: ...}}', got {_shown(item)}", node, i, field=field)
            name, kind = item["name"], item["type"]
            if not isinstance(name, str) or not name.strip():
                raise self.error(f"expected a column name, got {name!r}", item, "name", field=f"{field}.name")
            if name.lower() in seen:
                raise self.error(f"column '{name}' is declared twice", item, "name", field=f"{field}.name")
            seen.add(name.lower())
            try:
                parse_type(str(kind))
            except TypeNameError as exc:
                raise self.error(str(exc), item, "type", field=f"{field}.type", column=name) from None
            out.append((name, str(kind).strip()))
        return out


def _position(node: Any, key: Any, *, at_key: bool = False) -> tuple[int | None, int | None]:
    """1-based position of `node[key]` (of the key itself with `at_key`), else of `node`."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None, None
    try:
        if isinstance(node, list):
            line, col = lc.item(key)
        elif key is None:
            line, col = lc.line, lc.col
        else:
            line, col = lc.key(key) if at_key else lc.value(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return (lc.line + 1, lc.col + 1) if lc.line is not None else (None, None)
    return line + 1, col + 1


def _plain(value: Any) -> Any:
    """ruamel's scalar and container subclasses as plain Python values (keys keep their type)."""
    if isinstance(value, ScalarBoolean):
        return bool(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    return value


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return type(value).__name__
    return repr(value)


# -- values: YAML -> Python (for pa.array) ------------------------------------------------------


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


# -- values: Python (from Arrow) -> YAML text ---------------------------------------------------


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
