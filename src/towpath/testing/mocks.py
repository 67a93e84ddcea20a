"""The YAML mock format (v1): read a mock into Arrow (values: `mock_values`, writing: `mock_dump`).

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

import difflib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.schema import Schema
from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from towpath.errors import SpecError
from towpath.testing.mock_values import _shown, to_python
from towpath.types import TypeNameError, arrow_type, iceberg_schema, parse_type

__all__ = ["Mock", "MockError", "check_mock", "load_mock", "parse_mock"]

_KEYS = ("table", "columns", "rows")


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
