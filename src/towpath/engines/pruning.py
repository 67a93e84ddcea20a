"""Turn the WHERE of the SELECT that scans a table into a pyiceberg row filter.

The filter only chooses which data files to read; the engine still applies the
full WHERE to every row it reads. So the one rule is soundness: every row the
query keeps must pass the filter. We therefore take only top-level AND
conjuncts, each a simple comparison of one of *this* table's columns with a
literal whose type fits the column or an OR of such (all its branches, or it is
skipped: an audit's `a IS NULL OR b IS NULL` then prunes every file whose
column statistics count no NULL), and only for tables whose rows the WHERE
really filters (the FROM table or an INNER/CROSS-joined one, in a SELECT with
no RIGHT or FULL join: there a WHERE on the nullable side keeps NULL-extended
rows that a pruned scan would change). Anything else is skipped, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import reduce
from typing import Any

from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    NotEqualTo,
    NotNull,
    Or,
)
from pyiceberg.expressions.visitors import bind
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
)
from sqlglot import exp

from towpath.sql import Schemas, column_owner, table_key

__all__ = ["exact_filter", "row_filter"]

# pyiceberg's predicate classes are pydantic models whose typed signatures hide the positional
# `EqualTo("col", value)` form its docs use; they are called through `Callable[..., ...]` on purpose.
_Predicate = Callable[..., BooleanExpression]
_IN: _Predicate = In
_IS_NULL: _Predicate = IsNull
_NOT_NULL: _Predicate = NotNull
_GTE: _Predicate = GreaterThanOrEqual
_LTE: _Predicate = LessThanOrEqual

_COMPARISONS: dict[type[exp.Expr], _Predicate] = {
    exp.EQ: EqualTo,
    exp.NEQ: NotEqualTo,
    exp.LT: LessThan,
    exp.LTE: LessThanOrEqual,
    exp.GT: GreaterThan,
    exp.GTE: GreaterThanOrEqual,
}
# `lit < col` is `col > lit`
_FLIPPED: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.EQ: exp.EQ, exp.NEQ: exp.NEQ, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.GT: exp.LT, exp.GTE: exp.LTE,
}


class _Skip(Exception):
    """This conjunct cannot be translated soundly; leave it to the engine."""


def row_filter(table: exp.Table, schema: Schema, known: Schemas | None = None) -> BooleanExpression:
    """The pyiceberg filter implied by the WHERE of the SELECT whose FROM/JOIN holds `table`.

    A column is `table`'s by `towpath.sql.column_owner`, the attribution every SQL
    analysis of towpath shares: qualified by its alias, or unqualified and no other
    source of the SELECT can have it.

    Args:
        table: the table reference inside a parsed query.
        schema: the Iceberg schema of that table.
        known: schemas of the tables the query reads, `table`'s included (`towpath.sql.CatalogSchemas`);
            without them an unqualified column is attributed only when `table` is the SELECT's one source.

    Returns:
        `AlwaysTrue()` when nothing can be pushed down soundly.

    >>> import sqlglot
    >>> from pyiceberg.schema import Schema
    >>> from pyiceberg.types import NestedField, DateType
    >>> q = sqlglot.parse_one("SELECT * FROM db.t WHERE date = DATE '2022-01-01' AND rand() > 0.5", read="spark")
    >>> row_filter(q.find(sqlglot.exp.Table), Schema(NestedField(1, "date", DateType())))
    EqualTo(term=Reference(name='date'), literal=literal('2022-01-01'))
    """
    select = _owning_select(table)
    where = select.args.get("where") if select is not None else None
    if select is None or where is None:
        return AlwaysTrue()
    nodes = [select.args["from_"].this] if select.args.get("from_") else []
    nodes += [join.this for join in select.args.get("joins") or []]
    sources = {node.alias_or_name.lower(): node for node in nodes}
    name = table.alias_or_name.lower()
    if sources.get(name) is not table:
        return AlwaysTrue()  # two sources under one name: nothing is attributed
    schemas: Schemas = known if known is not None else {
        table_key(table): dict.fromkeys((f.name.lower() for f in schema.fields), "")}

    def field_of(column: exp.Expr) -> NestedField:
        if not isinstance(column, exp.Column) or not isinstance(column.this, exp.Identifier):
            raise _Skip
        if column_owner(column, sources, schemas) != name:
            raise _Skip
        try:
            return schema.find_field(column.name.lower(), case_sensitive=False)
        except ValueError:
            raise _Skip from None

    predicates = []
    for conjunct in _conjuncts(where.this):
        try:
            predicates.append(_bound(conjunct, field_of, schema))
        except _Skip:
            continue
    return reduce(And, predicates) if predicates else AlwaysTrue()


def exact_filter(condition: exp.Expr, schema: Schema) -> BooleanExpression | None:
    """`condition` as a pyiceberg filter that keeps exactly the rows SQL keeps, or None if it has no such form.

    For answers read from metadata (`towpath.catalog.counts`), where a filter
    that only implies the condition would count too many rows. Every conjunct
    must translate, and `<>` is refused: SQL drops NULLs there, and pyiceberg's
    residual of a NULL partition value keeps them.

    >>> import sqlglot
    >>> from pyiceberg.schema import Schema
    >>> from pyiceberg.types import NestedField, DateType
    >>> exact_filter(sqlglot.condition("date = DATE '2022-01-01'"), Schema(NestedField(1, "date", DateType())))
    EqualTo(term=Reference(name='date'), literal=literal('2022-01-01'))
    >>> exact_filter(sqlglot.condition("date <> DATE '2022-01-01'"), Schema(NestedField(1, "date", DateType()))) is None
    True
    """
    if condition.find(exp.NEQ) is not None:
        return None

    def field_of(column: exp.Expr) -> NestedField:
        if not isinstance(column, exp.Column) or not isinstance(column.this, exp.Identifier) or column.table:
            raise _Skip
        try:
            return schema.find_field(column.name.lower(), case_sensitive=False)
        except ValueError:
            raise _Skip from None

    try:
        return reduce(And, [_bound(conjunct, field_of, schema) for conjunct in _conjuncts(condition)])
    except _Skip:
        return None


def _bound(conjunct: exp.Expr, field_of: Callable[[exp.Expr], NestedField], schema: Schema) -> BooleanExpression:
    """`conjunct` translated, once it binds to `schema` (a literal that does not convert is a `_Skip`)."""
    try:
        predicate = _translate(conjunct, field_of)
        bind(schema, predicate, case_sensitive=True)
    except (ValueError, TypeError, ArithmeticError):
        raise _Skip from None
    return predicate


def _owning_select(table: exp.Table) -> exp.Select | None:
    """The SELECT whose rows `table` feeds directly, if its WHERE may be pushed into `table`."""
    holder = table.parent
    select = holder.parent if holder is not None else None
    if not isinstance(select, exp.Select):
        return None
    joins = select.args.get("joins") or []
    if any((j.side or "").upper() in ("RIGHT", "FULL") or (j.kind or "").upper() == "FULL" for j in joins):
        return None
    if isinstance(holder, exp.From) and holder is select.args.get("from_"):
        return select
    if isinstance(holder, exp.Join) and not holder.side and (holder.kind or "").upper() in ("", "INNER", "CROSS"):
        return select
    return None


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    node = node.unnest()
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def _translate(node: exp.Expr, field_of: Callable[[exp.Expr], NestedField]) -> BooleanExpression:
    node = node.unnest()
    if isinstance(node, exp.Or):  # sound only if every branch is: a branch that raises skips the whole OR
        return Or(_translate(node.this, field_of), _translate(node.expression, field_of))
    kind = type(node)
    if kind in _COMPARISONS:
        left, right = node.this.unnest(), node.expression.unnest()
        if isinstance(left, exp.Column):
            field = field_of(left)
            return _COMPARISONS[kind](field.name, _value(right, field.field_type))
        if isinstance(right, exp.Column):
            field = field_of(right)
            return _COMPARISONS[_FLIPPED[kind]](field.name, _value(left, field.field_type))
        raise _Skip
    if isinstance(node, exp.Between):
        field = field_of(node.this.unnest())
        low = _value(node.args["low"], field.field_type)
        high = _value(node.args["high"], field.field_type)
        return And(_GTE(field.name, low), _LTE(field.name, high))
    if isinstance(node, exp.In):
        if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
            raise _Skip
        field = field_of(node.this.unnest())
        values = {_value(v, field.field_type) for v in node.expressions}
        if not values:
            raise _Skip
        return _IN(field.name, values)
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        return _IS_NULL(field_of(node.this.unnest()).name)
    if isinstance(node, exp.Not) and isinstance(node.this, exp.Is) and isinstance(node.this.expression, exp.Null):
        return _NOT_NULL(field_of(node.this.this.unnest()).name)
    raise _Skip


_INTEGRAL = (IntegerType, LongType)
_FRACTIONAL = (FloatType, DoubleType)
_TEMPORAL: dict[type[IcebergType], tuple[Any, ...]] = {
    DateType: (exp.DataType.Type.DATE,),
    TimestampType: (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATETIME, exp.DataType.Type.TIMESTAMPNTZ),
    TimestamptzType: (exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ),
}


def _value(node: exp.Expr, target: IcebergType) -> Any:
    """The Python value of a literal, if it compares with a `target` column without surprises.

    Mixed comparisons are refused rather than converted: `int_col < 0.5` would
    round the literal in pyiceberg but not in SQL, and pruning on the rounded
    value would drop matching rows.
    """
    node = node.unnest()
    cast_to: exp.DataType | None = None
    if isinstance(node, (exp.Cast, exp.TryCast)):
        cast_to = node.to
        node = node.this.unnest()
    negative = isinstance(node, exp.Neg)
    if negative:
        node = node.this.unnest()
    if isinstance(node, exp.Boolean) and cast_to is None and not negative:
        if isinstance(target, BooleanType):
            return bool(node.this)
        raise _Skip
    if not isinstance(node, exp.Literal):
        raise _Skip
    if node.is_string:
        if negative:
            raise _Skip
        text = node.this
        temporal = _TEMPORAL.get(type(target))
        if temporal is not None and (cast_to is None or cast_to.this in temporal):
            return text
        if isinstance(target, StringType) and (cast_to is None or cast_to.is_type(*exp.DataType.TEXT_TYPES)):
            return text
        raise _Skip
    if cast_to is not None:
        raise _Skip
    try:
        number = Decimal(node.this)
    except InvalidOperation:
        raise _Skip from None
    number = -number if negative else number
    is_integral = number == number.to_integral_value() and "." not in node.this and "e" not in node.this.lower()
    if isinstance(target, _INTEGRAL) and is_integral:
        return int(number)
    if isinstance(target, _FRACTIONAL):
        return float(number)
    if isinstance(target, DecimalType):
        return number
    raise _Skip
