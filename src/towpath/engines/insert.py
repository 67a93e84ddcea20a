"""Shape the rows of `INSERT ... SELECT` to the target table, the way Spark does.

Spark's INSERT is positional: the i-th column of the query fills the i-th
column of the table (or of the explicit column list), whatever it is called.
Positional matching silently swaps two same-typed columns when a query lists
them in another order, so we match by name when it is unambiguous: when the
query's column names are exactly the target columns, in any order (or with
`INSERT ... BY NAME`). Otherwise the column counts must agree and we match by
position. A static `PARTITION (col = value)` clause removes `col` from the
columns the query must supply and adds it as a constant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
from sqlglot import exp

__all__ = ["InsertTarget", "arity_problem", "filled_columns", "insert_target", "shape_insert"]


@dataclass(frozen=True)
class InsertTarget:
    """What an INSERT statement says about where its rows go."""

    table: exp.Table
    columns: list[str] | None
    """The explicit `(col, ...)` list, if any."""
    static: dict[str, exp.Expression]
    """Static partition values: `PARTITION (date = '2022-01-01')`."""
    overwrite: bool
    by_name: bool


def insert_target(insert: exp.Insert) -> InsertTarget:
    """Read the target, column list, static partitions and flags of an INSERT."""
    node = insert.this
    columns = None
    if isinstance(node, exp.Schema):
        columns = [c.name for c in node.expressions]
        node = node.this
    static: dict[str, exp.Expression] = {}
    partition = node.args.get("partition") or insert.args.get("partition")
    if isinstance(partition, exp.Partition):
        for item in partition.expressions:
            if isinstance(item, exp.EQ) and isinstance(item.this, exp.Column):
                static[item.this.name] = item.expression
    return InsertTarget(node, columns, static, bool(insert.args.get("overwrite")), bool(insert.args.get("by_name")))


def arity_problem(names: Sequence[str], table_columns: Sequence[str], target: InsertTarget) -> str | None:
    """Why a query returning columns `names` cannot fill `target`, or None if it can.

    The rule `shape_insert` applies, usable before anything runs (the preflight
    reads `names` from the parsed query).
    """
    expected = _expected(table_columns, target)
    if _by_name(names, expected, target) or len(names) == len(expected):
        return None
    return (
        f"the query returns {len(names)} columns ({', '.join(names)}) "
        f"but the INSERT fills {len(expected)} ({', '.join(expected)})"
    )


def filled_columns(names: Sequence[str], table_columns: Sequence[str], target: InsertTarget) -> list[str] | None:
    """The target column each of the query's columns `names` fills, in order; None when they cannot fill it.

    The one rule both the write (`shape_insert`) and column lineage read.
    """
    if arity_problem(names, table_columns, target):
        return None
    expected = _expected(table_columns, target)
    return list(names) if _by_name(names, expected, target) else list(expected)


def shape_insert(
    data: pa.Table,
    table_columns: Sequence[str],
    target: InsertTarget,
    constants: Mapping[str, pa.Scalar],
) -> pa.Table:
    """Rename `data`'s columns to the target's and append the static partition constants.

    Raises:
        ValueError: the query returns a different number of columns than the
            INSERT must fill (the message lists both).
    """
    filled = filled_columns(data.column_names, table_columns, target)
    if filled is None:
        raise ValueError(arity_problem(data.column_names, table_columns, target))
    if filled != data.column_names:
        data = data.rename_columns(filled)
    for name, value in constants.items():
        data = data.append_column(name, pa.repeat(value, data.num_rows))
    return data


def _expected(table_columns: Sequence[str], target: InsertTarget) -> list[str]:
    """The columns the query must supply: the explicit list, else the table's minus static partitions."""
    static = {name.lower() for name in target.static}
    return target.columns or [c for c in table_columns if c.lower() not in static]


def _by_name(names: Sequence[str], expected: Sequence[str], target: InsertTarget) -> bool:
    return target.by_name or sorted(n.lower() for n in names) == sorted(c.lower() for c in expected)
