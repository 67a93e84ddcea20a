"""`row_filter` pushes only what the WHERE implies for that table: a table of facts."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlglot
from pyiceberg.expressions import (
    AlwaysTrue,
    BooleanExpression,
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    NotEqualTo,
    NotNull,
    Or,
)
from pyiceberg.schema import Schema
from pyiceberg.types import DateType, DecimalType, LongType, NestedField, StringType, TimestamptzType
from sqlglot import exp

from towpath.engines.pruning import row_filter

SCHEMA = Schema(
    NestedField(1, "date", DateType(), required=False),
    NestedField(2, "n", LongType(), required=False),
    NestedField(3, "s", StringType(), required=False),
    NestedField(4, "ts", TimestamptzType(), required=False),
    NestedField(5, "amount", DecimalType(10, 2), required=False),
)


def pushed(sql: str, table: str = "t", columns_of: dict[str, set[str]] | None = None) -> BooleanExpression:
    """`row_filter` of `db.<table>` with the schemas `towpath.sql` attributes columns from (`columns_of`:
    the other tables' columns)."""
    tree = sqlglot.parse_one(sql, read="spark")
    node = next(t for t in tree.find_all(exp.Table) if t.name == table)
    known = {f"db.{name}": dict.fromkeys(columns, "") for name, columns in (columns_of or {}).items()}
    known[f"db.{table}"] = dict.fromkeys((f.name for f in SCHEMA.fields), "")
    return row_filter(node, SCHEMA, known)


@pytest.mark.parametrize(
    "where, expected",
    [
        ("date = DATE '2022-01-01'", EqualTo("date", "2022-01-01")),
        ("CAST('2022-01-01' AS DATE) <= date", GreaterThanOrEqual("date", "2022-01-01")),
        ("n <> 3", NotEqualTo("n", 3)),
        ("n > -2", GreaterThan("n", -2)),
        ("s IN ('a', 'b')", In("s", {"a", "b"})),
        ("s IS NULL", IsNull("s")),
        ("s IS NOT NULL", NotNull("s")),
        ("amount >= 1.50", GreaterThanOrEqual("amount", Decimal("1.50"))),
        ("ts >= '2022-01-01T00:00:00+00:00'", GreaterThanOrEqual("ts", "2022-01-01T00:00:00+00:00")),
        ("date = '2022-01-01' OR n = 1", Or(EqualTo("date", "2022-01-01"), EqualTo("n", 1))),
        ("(s IS NULL OR (n IS NULL))", Or(IsNull("s"), IsNull("n"))),
    ],
)
def test_simple_conjuncts_are_pushed(where: str, expected: BooleanExpression) -> None:
    assert pushed(f"SELECT * FROM db.t WHERE {where}") == expected


@pytest.mark.parametrize(
    "where",
    [
        "date = '2022-01-01' OR upper(s) = 'A'",  # a disjunction with a branch that does not translate
        "NOT n = 1",
        "n < 0.5",  # would round to n < 0 in pyiceberg and drop n = 0
        "n = '1'",  # string vs number: SQL casts, pruning would guess
        "ts > '2022-01-01'",  # no offset: DuckDB reads it in the session time zone
        "date = '2022-13-45'",  # not a date
        "n NOT IN (1, 2)",
        "n IN (SELECT 1)",
        "upper(s) = 'A'",
        "n = n + 1",
        "other.date = '2022-01-01'",  # another table's column
    ],
)
def test_anything_unsure_is_left_to_the_engine(where: str) -> None:
    assert pushed(f"SELECT * FROM db.t WHERE {where}") == AlwaysTrue()


def test_only_the_translatable_conjuncts_are_kept() -> None:
    assert pushed("SELECT * FROM db.t WHERE upper(s) = 'A' AND (n = 1) AND rand() > 0.5") == (
        EqualTo("n", 1))


def test_columns_are_matched_through_the_alias_and_case_insensitively() -> None:
    assert pushed("SELECT * FROM db.t AS x WHERE x.N = 1 AND t.n = 2") == (
        EqualTo("n", 1))


def test_only_the_where_of_the_select_that_scans_the_table_counts() -> None:
    sql = "SELECT * FROM (SELECT * FROM db.t) AS sub WHERE n = 1"
    assert pushed(sql) == AlwaysTrue()
    sql = "WITH c AS (SELECT * FROM db.t WHERE n = 1) SELECT * FROM c WHERE s = 'x'"
    assert pushed(sql) == EqualTo("n", 1)


@pytest.mark.parametrize(
    "sql, expected",
    [
        # inner joins: qualified columns go to their table; unqualified ones only when no other source has them
        ("SELECT * FROM db.t JOIN db.u ON t.n = u.n WHERE t.n = 1 AND u.k = 2",
         EqualTo("n", 1)),
        ("SELECT * FROM db.t JOIN db.u ON t.n = u.n WHERE s = 'x'",
         EqualTo("s", "x")),
        ("SELECT * FROM db.t JOIN db.u ON t.n = u.n WHERE n = 1", AlwaysTrue()),
        # a subquery's columns are its named outputs; one with `*` could have any column
        ("SELECT * FROM db.t JOIN (SELECT 1 AS k) q ON TRUE WHERE s = 'x'", EqualTo("s", "x")),
        ("SELECT * FROM db.t JOIN (SELECT 1 AS k) q ON TRUE WHERE k = 1", AlwaysTrue()),
        ("SELECT * FROM db.t JOIN (SELECT * FROM db.u) q ON TRUE WHERE s = 'x'", AlwaysTrue()),
        ("SELECT * FROM db.t JOIN db.v ON TRUE WHERE s = 'x'", AlwaysTrue()),  # v's columns are unknown
        # outer joins: the preserved side of a LEFT JOIN is safe, the nullable side never
        ("SELECT * FROM db.t LEFT JOIN db.u ON t.n = u.n WHERE t.n = 1",
         EqualTo("n", 1)),
        ("SELECT * FROM db.u LEFT JOIN db.t ON t.n = u.n WHERE t.n IS NULL", AlwaysTrue()),
        ("SELECT * FROM db.t RIGHT JOIN db.u ON t.n = u.n WHERE t.n = 1", AlwaysTrue()),
        ("SELECT * FROM db.t FULL OUTER JOIN db.u ON t.n = u.n WHERE t.n = 1", AlwaysTrue()),
    ],
)
def test_joins(sql: str, expected: BooleanExpression) -> None:
    assert pushed(sql, columns_of={"u": {"n", "k"}}) == expected
