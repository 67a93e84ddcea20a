"""The built-in audits. Each is a query returning the failing rows; empty means pass.

Usage lines show the YAML of one entry in `audits:`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, field_validator, model_validator
from sqlglot import exp

from towpath.audits.base import Audit, AuditParams, CountsFn, parse_query
from towpath.config import invalid
from towpath.config.params import parse_duration
from towpath.errors import ParameterError

Scalar = str | int | float | bool | dt.date | dt.datetime

def _lit(value: Any) -> exp.Expr:
    """A Python value as a SQL literal (dates and datetimes as ISO strings the engine casts)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return exp.Literal.string(value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat())
    return exp.convert(value)


def _rows_have(n: int) -> str:
    return "1 row has" if n == 1 else f"{n} rows have"


def _first(sample: Sequence[Mapping[str, Any]], key: str) -> Any:
    return sample[0].get(key) if sample else None


class ColumnsParams(AuditParams):
    columns: list[str] = Field(min_length=1)
    """Columns to check."""


class ColumnsShouldNotHaveNulls(Audit[ColumnsParams]):
    """Rows where any of `columns` is NULL.

    Usage: `{function: columns_should_not_have_nulls, params: {columns: [title_id]}}`
    """

    name = "columns_should_not_have_nulls"

    def failing_rows(self) -> exp.Query:
        params = self.params
        any_null = exp.or_(*(exp.column(c).is_(exp.null()) for c in params.columns))
        return self.scoped(any_null)

    def count_from_metadata(self, counts: CountsFn) -> int | None:
        scanned = counts(())
        if scanned is None:
            return None
        nulls = [scanned.nulls(column) for column in self.params.columns]
        if None in nulls:
            return None
        with_nulls = [n for n in nulls if n]
        if len(with_nulls) > 1:  # NULLs in two columns may share rows: only the rows can say
            return None
        return with_nulls[0] if with_nulls else 0

    def describe(self, failing: int, sample: Sequence[Mapping[str, Any]]) -> str:
        return f"{_rows_have(failing)} NULL {' or '.join(self.params.columns)}{self.scope_text()}"


class ColumnsShouldBeUnique(Audit[ColumnsParams]):
    """Key values (of the composite key `columns`) that occur more than once, with their counts.

    Usage: `{function: columns_should_be_unique, params: {columns: [date, country_code, title_rank]}}`
    """

    name = "columns_should_be_unique"

    def failing_rows(self) -> exp.Query:
        keys = [exp.column(c) for c in self.params.columns]
        count = exp.Count(this=exp.Star())
        return (
            self.select(*keys, exp.alias_(count.copy(), "duplicate_count"))
            .group_by(*(k.copy() for k in keys))
            .having(exp.GT(this=count, expression=exp.Literal.number(1)))
        )

    def describe(self, failing: int, sample: Sequence[Mapping[str, Any]]) -> str:
        key = ", ".join(self.params.columns)
        return f"{failing} value(s) of ({key}) occur more than once{self.scope_text()}"


class RowCountParams(AuditParams):
    min: int | None = Field(default=None, ge=0)
    """Fewest rows allowed (inclusive)."""
    max: int | None = Field(default=None, ge=0)
    """Most rows allowed (inclusive)."""

    @model_validator(mode="after")
    def _bounds(self) -> RowCountParams:
        if self.min is None and self.max is None:
            raise invalid("give at least one of 'min' and 'max'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise invalid(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        return self


def _counted(audit: Audit[Any], alias: str = "row_count") -> exp.Select:
    """`SELECT * FROM (SELECT COUNT(*) AS alias FROM table WHERE ...) AS counted` to filter on."""
    inner = audit.select(exp.alias_(exp.Count(this=exp.Star()), alias))
    return exp.select(exp.Star()).from_(inner.subquery("counted"))


class RowCountBetween(Audit[RowCountParams]):
    """One row holding the row count when it is outside [min, max].

    Usage: `{function: row_count_between, params: {min: 100, max: 100000}}`
    """

    name = "row_count_between"

    def failing_rows(self) -> exp.Query:
        params = self.params
        n = exp.column("row_count")
        outside: list[exp.Expr] = []
        if params.min is not None:
            outside.append(exp.LT(this=n.copy(), expression=exp.Literal.number(params.min)))
        if params.max is not None:
            outside.append(exp.GT(this=n.copy(), expression=exp.Literal.number(params.max)))
        return _counted(self).where(exp.or_(*outside))

    def count_from_metadata(self, counts: CountsFn) -> int | None:
        params = self.params
        if (scanned := counts(())) is None:
            return None
        rows = scanned.rows
        return int((params.min is not None and rows < params.min) or (params.max is not None and rows > params.max))

    def describe(self, failing: int, sample: Sequence[Mapping[str, Any]]) -> str:
        params = self.params
        lo = "-inf" if params.min is None else params.min
        hi = "inf" if params.max is None else params.max
        return f"row count {_first(sample, 'row_count')} is outside [{lo}, {hi}]{self.scope_text()}"


class TableShouldNotBeEmpty(Audit[AuditParams]):
    """One row when the table (or the `where` slice) has no rows.

    Usage: `{function: table_should_not_be_empty, params: {where: "date = DATE '${DATE}'"}}`
    """

    name = "table_should_not_be_empty"

    def failing_rows(self) -> exp.Query:
        return _counted(self).where(exp.EQ(this=exp.column("row_count"), expression=exp.Literal.number(0)))

    def count_from_metadata(self, counts: CountsFn) -> int | None:
        scanned = counts(())
        return None if scanned is None else int(scanned.rows == 0)

    def describe(self, failing: int, sample: Sequence[Mapping[str, Any]]) -> str:
        return f"the table has no rows{self.scope_text()}"


class AcceptedValuesParams(AuditParams):
    column: str
    """Column to check."""
    values: list[Scalar] = Field(min_length=1)
    """The only values allowed (NULL is not checked; use columns_should_not_have_nulls)."""


class AcceptedValues(Audit[AcceptedValuesParams]):
    """Rows whose `column` is not one of `values`.

    Usage: `{function: accepted_values, params: {column: country_code, values: [US, CA, BR]}}`
    """

    name = "accepted_values"

    def failing_rows(self) -> exp.Query:
        params = self.params
        allowed = exp.In(this=exp.column(params.column), expressions=[_lit(v) for v in params.values])
        return self.scoped(exp.not_(allowed))

    def describe(self, failing: int, sample: Sequence[Mapping[str, Any]]) -> str:
        params = self.params
        found = sorted({str(row.get(params.column)) for row in sample})
        return (
            f"{_rows_have(failing)} {params.column} not in {params.values}{self.scope_text()}"
            f" (e.g. {', '.join(found)})"
        )


class ValuesBetweenParams(AuditParams):
    column: str
    """Column to check."""
    min: int | float | dt.datetime | dt.date | None = None
    """Lower bound (numbers, dates or timestamps)."""
    max: int | float | dt.datetime | dt.date | None = None
    """Upper bound."""
    inclusive: bool = True
    """Whether the bounds themselves are allowed."""

    @model_validator(mode="after")
    def _bounds(self) -> ValuesBetweenParams:
        if self.min is None and self.max is None:
            raise invalid("give at least one of 'min' and 'max'")
        return self


class ValuesBetween(Audit[ValuesBetweenParams]):
    """Rows whose `column` is outside the range (NULLs are not checked).

    Usage: `{function: values_between, params: {column: title_rank, min: 1, max: 100}}`
    """

    name = "values_between"

    def failing_rows(self) -> exp.Query:
        params = self.params
        col = exp.column(params.column)
        below: type[exp.Binary] = exp.LT if params.inclusive else exp.LTE
        above: type[exp.Binary] = exp.GT if params.inclusive else exp.GTE
        outside: list[exp.Expr] = []
        if params.min is not None:
            outside.append(below(this=col.copy(), expression=_lit(params.min)))
        if params.max is not None:
            outside.append(above(this=col.copy(), expression=_lit(params.max)))
        return self.scoped(exp.or_(*outside))

    def describe(self, failing: int, sample: Sequence[Mapping[str, Any]]) -> str:
        params = self.params
        lo, hi = ("[", "]") if params.inclusive else ("(", ")")
        low = "-inf" if params.min is None else params.min
        high = "inf" if params.max is None else params.max
        return f"{_rows_have(failing)} {params.column} outside {lo}{low}, {high}{hi}{self.scope_text()}"


class NotNullProportionParams(AuditParams):
    column: str
    """Column to check."""
    threshold: float = Field(ge=0, le=1)
    """Smallest allowed share of non-NULL values, in [0, 1]."""


class NotNullProportion(Audit[NotNullProportionParams]):
    """One row with the non-NULL share of `column` when it is below `threshold` (an empty slice passes).

    Usage: `{function: not_null_proportion, params: {column: title_id, threshold: 0.95}}`
    """

    name = "not_null_proportion"

    def failing_rows(self) -> exp.Query:
        params = self.params
        non_null = exp.cast(exp.Count(this=exp.column(params.column)), exp.DataType.Type.DOUBLE)
        total = exp.Nullif(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(0))
        share = exp.Div(this=non_null, expression=total)
        inner = self.select(exp.alias_(share, "not_null_proportion"), exp.alias_(exp.Count(this=exp.Star()), "row_count"))
        return (
            exp.select(exp.Star())
            .from_(inner.subquery("proportions"))
            .where(exp.LT(this=exp.column("not_null_proportion"), expression=exp.Literal.number(params.threshold)))
        )

    def describe(self, failing: int, sample: Sequence[Mapping[str, Any]]) -> str:
        params = self.params
        share = _first(sample, "not_null_proportion")
        shown = f"{share:.2%}" if isinstance(share, float) else str(share)
        return (
            f"only {shown} of {params.column} values are not NULL"
            f" (at least {params.threshold:.2%} required){self.scope_text()}"
        )


class RowCountChangeParams(AuditParams):
    percent: float = Field(ge=0)
    """Largest allowed change, in percent, against the previous partition."""
    partition_column: str
    """Column that names the partition, e.g. `date`."""
    partition_value: Scalar
    """This run's partition, e.g. `${DATE}`."""


class RowCountChangeWithin(Audit[RowCountChangeParams]):
    """One row when this partition's row count moved more than `percent` from the previous partition's.

    The previous partition is the greatest `partition_column` value below
    `partition_value`; with none (a first run) the audit passes.

    Usage: `{function: row_count_change_within, params: {percent: 20, partition_column: date, partition_value: "${DATE}"}}`
    """

    name = "row_count_change_within"

    def failing_rows(self) -> exp.Query:
        params = self.params
        part = exp.column(params.partition_column)
        value = _lit(params.partition_value)
        count = exp.Count(this=exp.Star())
        current = self.select(exp.alias_(count.copy(), "row_count"), conditions=[exp.EQ(this=part.copy(), expression=value)])
        previous_value = self.select(
            exp.alias_(exp.Max(this=part.copy()), "previous_partition"),
            conditions=[exp.LT(this=part.copy(), expression=value.copy())],
        )
        previous = self.select(
            exp.alias_(count.copy(), "previous_row_count"),
            conditions=[
                exp.EQ(
                    this=part.copy(),
                    expression=exp.select("previous_partition").from_("previous_value").subquery(),
                )
            ],
        )
        cur_n, prev_n = exp.column("row_count", "this_partition"), exp.column("previous_row_count", "previous_partition_count")
        change = exp.Div(
            this=exp.Mul(
                this=exp.paren(exp.Sub(this=cur_n.copy(), expression=prev_n.copy()), copy=False),
                expression=exp.Literal.number(100.0),
            ),
            expression=exp.cast(prev_n.copy(), exp.DataType.Type.DOUBLE),
        )
        return (
            exp.select(
                exp.alias_(cur_n.copy(), "row_count"),
                exp.alias_(prev_n.copy(), "previous_row_count"),
                exp.column("previous_partition", "previous_value"),
                exp.alias_(change.copy(), "change_percent"),
            )
            .with_("this_partition", as_=current)
            .with_("previous_value", as_=previous_value)
            .with_("previous_partition_count", as_=previous)
            .from_("this_partition")
            .join("previous_partition_count", join_type="cross")
            .join("previous_value", join_type="cross")
            .where(exp.GT(this=prev_n.copy(), expression=exp.Literal.number(0)))
            .where(exp.GT(this=exp.Abs(this=change), expression=exp.Literal.number(params.percent)))
        )

    def count_from_metadata(self, counts: CountsFn) -> int | None:
        params = self.params
        part, value = exp.column(params.partition_column), _lit(params.partition_value)
        current = counts([exp.EQ(this=part, expression=value)])
        earlier = counts([exp.LT(this=part.copy(), expression=value.copy())])
        sizes = None if earlier is None else earlier.partition_rows(params.partition_column)
        if current is None or sizes is None or any(isinstance(v, float) for v in sizes):  # NaN has no order
            return None
        sizes = {v: n for v, n in sizes.items() if n and v is not None}
        if not sizes:  # no earlier partition: the query's `previous_row_count > 0` keeps nothing
            return 0
        previous = sizes[max(sizes)]
        return int(abs((current.rows - previous) * 100.0 / previous) > params.percent)

    def describe(self, failing: int, sample: Sequence[Mapping[str, Any]]) -> str:
        params = self.params
        change = _first(sample, "change_percent")
        shown = f"{change:+.1f}%" if isinstance(change, float) else str(change)
        return (
            f"row count of {params.partition_column}={params.partition_value} is {_first(sample, 'row_count')},"
            f" {shown} against {_first(sample, 'previous_row_count')} in"
            f" {params.partition_column}={_first(sample, 'previous_partition')}"
            f" (allowed: ±{params.percent:g}%){self.scope_text()}"
        )


class FreshnessParams(AuditParams):
    column: str
    """A date or timestamp column (naive timestamps are read as UTC)."""
    max_age: float
    """Oldest allowed age of the newest value: seconds, or text like `90m`, `24h`, `2d`."""
    as_of: dt.datetime | None = None
    """Point in time the age is measured from (default: now, UTC)."""

    @field_validator("max_age", mode="before")
    @classmethod
    def _age(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_duration(value).total_seconds()
            except ParameterError:
                raise invalid("expected seconds or a duration like '90m', '24h', '2d'") from None
        return value


class Freshness(Audit[FreshnessParams]):
    """One row with the newest `column` value when it is older than `max_age` (or the table is empty).

    Usage: `{function: freshness, params: {column: updated_at, max_age: 24h}}`
    """

    name = "freshness"

    def cutoff(self) -> dt.datetime:
        """Newest values older than this fail (UTC, naive)."""
        params = self.params
        as_of = params.as_of or dt.datetime.now(dt.UTC)
        if as_of.tzinfo is not None:
            as_of = as_of.astimezone(dt.UTC).replace(tzinfo=None)
        return as_of - dt.timedelta(seconds=params.max_age)

    def failing_rows(self) -> exp.Query:
        params = self.params
        latest = exp.cast(exp.Max(this=exp.column(params.column)), exp.DataType.Type.TIMESTAMP)
        inner = self.select(exp.alias_(latest, "latest"))
        cutoff = exp.cast(exp.Literal.string(self.cutoff().isoformat(sep=" ")), exp.DataType.Type.TIMESTAMP)
        latest_col = exp.column("latest")
        return (
            exp.select(exp.Star(), exp.alias_(cutoff.copy(), "cutoff"))
            .from_(inner.subquery("newest"))
            .where(exp.or_(latest_col.is_(exp.null()), exp.LT(this=latest_col.copy(), expression=cutoff)))
        )

    def describe(self, failing: int, sample: Sequence[Mapping[str, Any]]) -> str:
        params = self.params
        latest = _first(sample, "latest")
        if latest is None:
            return f"{params.column} has no values, so the data is not fresh{self.scope_text()}"
        return (
            f"newest {params.column} is {latest}, older than the cutoff {self.cutoff()}"
            f" (max_age {params.max_age:g}s){self.scope_text()}"
        )


class CustomSqlParams(AuditParams):
    sql: str
    """A SELECT returning the failing rows, in the workflow's dialect, naming tables as `db.table`."""


class CustomSql(Audit[CustomSqlParams]):
    """Whatever rows your own query returns (the `where` param filters them further).

    Usage: `{function: custom_sql, params: {sql: "SELECT * FROM foo.t WHERE views < 0"}}`
    """

    name = "custom_sql"

    @classmethod
    def needs_table(cls) -> bool:
        return False

    def failing_rows(self) -> exp.Query:
        params = self.params
        query = parse_query(params.sql, dialect=self.dialect, field=f"{self.name}.params.sql")
        if not params.where:
            return query
        outer = exp.select(exp.Star()).from_(query.subquery("custom"))
        for condition in self.where():
            outer = outer.where(condition)
        return outer

    def describe(self, failing: int, sample: Sequence[Mapping[str, Any]]) -> str:
        return f"the custom query returned {failing} failing rows{self.scope_text()}"
