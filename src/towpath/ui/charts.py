"""The chart builder: x column, an aggregate of y, an optional series and filter -> one grouped query and a
Vega-Lite spec the browser draws with the vendored `vega-embed`.

The query is built as a sqlglot expression; the filter is parsed as one SQL condition
(no subqueries) whose columns must be the table's, so a shared chart URL cannot run
anything but an aggregate of that table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pyarrow as pa
import sqlglot
import sqlglot.expressions as exp
from sqlglot.errors import ParseError

from towpath.ui.config import UiInputError

if TYPE_CHECKING:
    from towpath.project import Project
    from towpath.ui.tables import EngineGate

AGGREGATES = ("count", "sum", "avg", "min", "max", "count_distinct")
MARKS = ("bar", "line", "area")
MAX_GROUPS = 5000
"""Groups a chart draws at most (the query's LIMIT)."""
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
"""Only an identifier inside the spec: vega-embed does not fetch it."""


@dataclass(frozen=True)
class ChartQuery:
    """What the builder's form holds; its query string is the chart's shareable URL."""

    table: str
    x: str
    y: str | None = None
    """The aggregated column (None: count rows)."""
    aggregate: str = "count"
    series: str | None = None
    filter: str | None = None
    """One SQL condition over the table's columns (Spark SQL), e.g. `country_code = 'US'`."""
    mark: str = "bar"

    @classmethod
    def parse(cls, table: str, query: dict[str, str]) -> ChartQuery:
        x = query.get("x") or ""
        if not x:
            raise UiInputError("x: pick the column for the x axis")
        aggregate = query.get("aggregate") or "count"
        if aggregate not in AGGREGATES:
            raise UiInputError(f"aggregate: expected one of {', '.join(AGGREGATES)}, got {aggregate!r}")
        mark = query.get("mark") or "bar"
        if mark not in MARKS:
            raise UiInputError(f"mark: expected one of {', '.join(MARKS)}, got {mark!r}")
        y = query.get("y") or None
        if y is None and aggregate != "count":
            raise UiInputError(f"y: {aggregate} needs a column to aggregate")
        return cls(table, x, y, aggregate, query.get("series") or None, (query.get("filter") or "").strip() or None,
                   mark)

    def params(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None and k != "table"}

    def url(self) -> str:
        return f"/tables/{self.table}/chart?{urlencode(self.params())}"

    def y_title(self) -> str:
        return f"{self.aggregate}({self.y or '*'})"


@dataclass
class Chart:
    query: ChartQuery
    sql: str
    rows: pa.Table
    vega_lite: dict[str, Any]
    url: str

    def to_dict(self) -> dict[str, Any]:
        from towpath.jsonable import to_jsonable

        return {"query": asdict(self.query), "sql": self.sql, "rows": to_jsonable(self.rows.to_pylist()),
                "vega_lite": self.vega_lite, "url": self.url}


def build_query(query: ChartQuery, schema: pa.Schema) -> exp.Select:
    """The grouped SELECT of a chart (raises `UiInputError` for an unknown column or a bad filter)."""
    from towpath.catalog import normalize_identifier

    names = {name.lower(): name for name in schema.names}

    def column(field: str, value: str) -> exp.Column:
        if value.lower() not in names:
            raise UiInputError(f"{field}: {value!r} is not a column of {query.table} "
                               f"(columns: {', '.join(schema.names)})")
        return exp.column(names[value.lower()], quoted=True)

    x = column("x", query.x)
    measured: exp.Expr = exp.Star() if query.y is None else column("y", query.y)
    aggregate = _aggregate(query.aggregate, measured)
    keys: list[exp.Expr] = [x]
    select = exp.select(exp.alias_(x.copy(), "x"), exp.alias_(aggregate, "y"))
    if query.series:
        series = column("series", query.series)
        keys.append(series)
        select = select.select(exp.alias_(series.copy(), "series"))
    select = select.from_(exp.to_table(normalize_identifier(query.table)))
    if query.filter:
        select = select.where(_condition(query.filter, names, query.table))
    return select.group_by(*[k.copy() for k in keys]).order_by(*[k.copy() for k in keys]).limit(MAX_GROUPS)


def _aggregate(name: str, measured: exp.Expr) -> exp.Expr:
    if name == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[measured]))
    kind: type[exp.Expr] = {"count": exp.Count, "sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[name]
    return kind(this=measured)


def _condition(text: str, names: dict[str, str], table: str) -> exp.Expr:
    try:
        condition = sqlglot.condition(text, dialect="spark")
    except ParseError as exc:
        raise UiInputError(f"filter: not one SQL condition: {str(exc).splitlines()[0]}") from None
    if isinstance(condition, exp.Query) or condition.find(exp.Query, exp.Subquery) is not None:
        raise UiInputError("filter: a condition on the table's columns, without subqueries")
    for col in condition.find_all(exp.Column):
        if col.table or col.name.lower() not in names:
            raise UiInputError(f"filter: {col.sql()!r} is not a column of {table} (columns: {', '.join(names.values())})")
    return condition


def chart(project: Project, gate: EngineGate, query: ChartQuery) -> Chart:
    schema = project.catalog.table(query.table).schema().as_arrow()
    select = build_query(query, schema)
    rows = gate.query(select)
    return Chart(query, select.sql(dialect="spark", pretty=True), rows, vega_lite(query, schema, rows), query.url())


def vega_lite(query: ChartQuery, schema: pa.Schema, rows: pa.Table) -> dict[str, Any]:
    """The Vega-Lite spec: the rows inline, x typed from its column, y quantitative, series as colour."""
    from towpath.jsonable import to_jsonable

    x_type = schema.field(schema.get_field_index(_match(schema, query.x))).type
    if pa.types.is_temporal(x_type):
        kind = "ordinal" if query.mark == "bar" else "temporal"
    elif (pa.types.is_integer(x_type) or pa.types.is_floating(x_type) or pa.types.is_decimal(x_type)) and (
            query.mark != "bar"):
        kind = "quantitative"
    else:
        kind = "ordinal" if query.mark == "bar" and not pa.types.is_string(x_type) else "nominal"
    encoding: dict[str, Any] = {
        "x": {"field": "x", "type": kind, "title": query.x, **({"sort": None} if kind != "quantitative" else {})},
        "y": {"field": "y", "type": "quantitative", "title": query.y_title()},
    }
    if query.series:
        encoding["color"] = {"field": "series", "type": "nominal", "title": query.series}
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "description": f"{query.y_title()} by {query.x} of {query.table}",
        "data": {"values": to_jsonable(rows.to_pylist())},
        "mark": {"type": query.mark, "tooltip": True, **({"point": True} if query.mark == "line" else {})},
        "encoding": encoding,
        "width": "container",
        "height": 320,
        "autosize": {"type": "fit", "contains": "padding"},
        "config": {"axisY": {"titlePadding": 14}},  # labels in a wide fallback font measure short: keep clear of them
    }


def _match(schema: pa.Schema, name: str) -> str:
    return next(str(n) for n in schema.names if n.lower() == name.lower())
