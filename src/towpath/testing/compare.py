"""`assert_rows_equal`: compare a job's output with the expected rows, and say what differs.

Tables are compared as multisets of rows (order-insensitive by default), floats
within a tolerance. A failure lists the missing and the unexpected rows (the
first 10 of each) and, when `key=` names the columns that identify a row, the
columns that differ for rows present on both sides. Column names and types are
checked first, because a wrong type makes every row look different.

Type checks ignore Arrow's physical variants (`large_string` vs `string`,
`large_list` vs `list`, views): the catalog reads `large_*` types, mocks hold
plain ones, and both mean the same Iceberg type.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from towpath.testing.mocks import Mock

__all__ = ["SHOWN", "assert_rows_equal", "rows_diff"]

SHOWN = 10
"""Rows shown per section of a failure message."""


def assert_rows_equal(
    actual: pa.Table,
    expected: pa.Table | Mock | str | Path,
    *,
    ignore_order: bool = True,
    rel_tol: float = 1e-9,
    abs_tol: float = 1e-9,
    columns: Sequence[str] | None = None,
    key: Sequence[str] | None = None,
    check_types: bool = True,
) -> None:
    """Assert `actual` holds exactly the rows of `expected` (a table, a `Mock` or a mock file).

    Args:
        actual: the job's output.
        expected: the expected rows; a path is loaded with `load_mock`.
        ignore_order: compare as multisets (default) instead of row by row.
        rel_tol, abs_tol: float tolerance (`math.isclose`); NaN equals NaN.
        columns: compare only these columns (default: all of `expected`'s).
        key: columns that identify a row; rows with the same key on both sides
            are reported column by column instead of as missing + unexpected.
        check_types: also require the same (logical) Arrow types.

    Raises:
        AssertionError: with a readable diff (see the module docstring).
    """
    __tracebackhide__ = True  # pytest shows the diff, not this function's source
    message = rows_diff(actual, expected, ignore_order=ignore_order, rel_tol=rel_tol, abs_tol=abs_tol,
                        columns=columns, key=key, check_types=check_types)
    if message:
        raise AssertionError(message)


def rows_diff(
    actual: pa.Table,
    expected: pa.Table | Mock | str | Path,
    *,
    ignore_order: bool = True,
    rel_tol: float = 1e-9,
    abs_tol: float = 1e-9,
    columns: Sequence[str] | None = None,
    key: Sequence[str] | None = None,
    check_types: bool = True,
) -> str | None:
    """The failure message `assert_rows_equal` would raise, or None when the tables match."""
    expected_table, label = _expected(expected)
    actual = _as_table(actual)
    names = list(columns or expected_table.column_names)
    header = _schema_problems(actual, expected_table, names, check_types)
    if header:
        return f"{label}: " + "; ".join(header)
    left = actual.select(names).to_pylist()
    right = expected_table.select(names).to_pylist()
    close = _Closeness(rel_tol, abs_tol)
    left_rows = [tuple(r[n] for n in names) for r in left]
    right_rows = [tuple(r[n] for n in names) for r in right]
    if not ignore_order:
        return _ordered_diff(left_rows, right_rows, names, close, label)
    missing, unexpected = _multiset_diff(left_rows, right_rows, close)
    if not missing and not unexpected:
        return None
    lines = [f"{label}: rows differ (actual {len(left_rows)} rows, expected {len(right_rows)})"]
    if key:
        changed, missing, unexpected = _pair_by_key(missing, unexpected, names, list(key), close)
        if changed:
            lines.append(f"  {len(changed)} rows with the same {', '.join(key)} differ:")
            for ident, diffs in changed[:SHOWN]:
                shown = ", ".join(f"{c}: {a!r} != expected {e!r}" for c, a, e in diffs)
                lines.append(f"    {ident}: {shown}")
            _more(lines, len(changed))
    for title, rows in (("missing (expected but not in actual)", missing), ("unexpected (in actual only)", unexpected)):
        if rows:
            lines.append(f"  {len(rows)} {title}:")
            lines.extend(f"    {_row_text(r, names)}" for r in rows[:SHOWN])
            _more(lines, len(rows))
    return "\n".join(lines)


# -- pieces ------------------------------------------------------------------------------------


def _expected(expected: Any) -> tuple[pa.Table, str]:
    from towpath.testing.mocks import Mock, load_mock

    if isinstance(expected, (str, Path)):
        expected = load_mock(expected)
    if isinstance(expected, Mock):
        return expected.data, f"rows of {expected.table} vs {expected.path or 'the expected mock'}"
    return _as_table(expected), "rows vs expected"


def _as_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    return pa.table(data)


def _logical(kind: pa.DataType) -> str:
    """A type's name with Arrow's physical variants folded (`large_string` -> `string`)."""
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return "string"
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return "binary"
    if pa.types.is_large_list(kind) or pa.types.is_list(kind) or pa.types.is_list_view(kind):
        return f"list<{_logical(kind.value_type)}>"
    if pa.types.is_map(kind):
        return f"map<{_logical(kind.key_type)}, {_logical(kind.item_type)}>"
    if pa.types.is_struct(kind):
        return "struct<" + ", ".join(f"{kind.field(i).name}: {_logical(kind.field(i).type)}"
                                     for i in range(kind.num_fields)) + ">"
    return str(kind)


def _schema_problems(actual: pa.Table, expected: pa.Table, names: list[str], check_types: bool) -> list[str]:
    problems = []
    have = actual.column_names
    missing = [n for n in names if n not in have]
    if missing:
        problems.append(f"columns {missing} are missing from the actual rows (actual columns: {have})")
    unexpected = [n for n in have if n not in expected.column_names] if names == expected.column_names else []
    if unexpected:
        problems.append(f"unexpected columns {unexpected} (expected columns: {expected.column_names})")
    if check_types:
        for name in names:
            if name in have and name in expected.column_names:
                a, e = _logical(actual.schema.field(name).type), _logical(expected.schema.field(name).type)
                if a != e:
                    problems.append(f"column '{name}' has type {a}, expected {e}")
    return problems


class _Closeness:
    """Equality of row values with float tolerance, through lists, maps and structs."""

    def __init__(self, rel_tol: float, abs_tol: float) -> None:
        self.rel_tol, self.abs_tol = rel_tol, abs_tol

    def same(self, a: Any, b: Any) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
                return False
            fa, fb = float(a), float(b)
            if math.isnan(fa) or math.isnan(fb):
                return math.isnan(fa) and math.isnan(fb)
            return math.isclose(fa, fb, rel_tol=self.rel_tol, abs_tol=self.abs_tol)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(self.same(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(self.same(a[k], b[k]) for k in a)
        return bool(a == b)

    def key(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """A hashable key that equal rows share when they hold no floats (floats need `same`)."""
        return tuple(_hashable(v) for v in row)


def _hashable(value: Any) -> Any:
    if isinstance(value, float):
        return float
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    return value


def _multiset_diff(
    actual: list[tuple[Any, ...]], expected: list[tuple[Any, ...]], close: _Closeness
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(expected rows not matched, actual rows not matched); floats match within tolerance.

    Rows are bucketed by their non-float values first, so only rows in one bucket
    are compared pairwise: linear for the usual shapes.
    """
    buckets: dict[Any, list[tuple[Any, ...]]] = {}
    for row in actual:
        buckets.setdefault(close.key(row), []).append(row)
    missing = []
    for row in expected:
        candidates = buckets.get(close.key(row), [])
        for i, candidate in enumerate(candidates):
            if close.same(candidate, row):
                del candidates[i]
                break
        else:
            missing.append(row)
    unexpected = [row for rows in buckets.values() for row in rows]
    return missing, unexpected


def _pair_by_key(
    missing: list[tuple[Any, ...]],
    unexpected: list[tuple[Any, ...]],
    names: list[str],
    key: list[str],
    close: _Closeness,
) -> tuple[list[tuple[str, list[tuple[str, Any, Any]]]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    index = [names.index(k) for k in key]
    by_key: dict[Any, list[tuple[Any, ...]]] = {}
    for row in unexpected:
        by_key.setdefault(_hashable(tuple(row[i] for i in index)), []).append(row)
    changed = []
    still_missing = []
    for row in missing:
        candidates = by_key.get(_hashable(tuple(row[i] for i in index)))
        if not candidates:
            still_missing.append(row)
            continue
        other = candidates.pop(0)
        diffs = [(n, other[i], row[i]) for i, n in enumerate(names) if not close.same(other[i], row[i])]
        ident = ", ".join(f"{k}={row[i]!r}" for k, i in zip(key, index, strict=True))
        changed.append((ident, diffs))
    rest = [row for rows in by_key.values() for row in rows]
    return changed, still_missing, rest


def _ordered_diff(
    actual: list[tuple[Any, ...]], expected: list[tuple[Any, ...]], names: list[str], close: _Closeness, label: str
) -> str | None:
    problems = []
    for i, (a, e) in enumerate(zip(actual, expected, strict=False)):
        if not close.same(a, e):
            problems.append(f"    row {i}: {_row_text(a, names)}\n      expected {_row_text(e, names)}")
    if not problems and len(actual) == len(expected):
        return None
    lines = [f"{label}: rows differ in order or value (actual {len(actual)} rows, expected {len(expected)})"]
    lines.extend(problems[:SHOWN])
    _more(lines, len(problems))
    return "\n".join(lines)


def _row_text(row: tuple[Any, ...], names: list[str]) -> str:
    return "{" + ", ".join(f"{n}: {v!r}" for n, v in zip(names, row, strict=True)) + "}"


def _more(lines: list[str], count: int) -> None:
    if count > SHOWN:
        lines.append(f"    ... and {count - SHOWN} more")

