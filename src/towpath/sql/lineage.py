"""Column-level lineage of one query: which base-table columns feed each output column, and where
the query reads each base-table column.

sqlglot's `lineage` runs over the query qualified against the known schemas
(`optimizer.qualify`, the same schemas the preflight resolves against), so an
unqualified column in a join is attributed to the table that has it and a
`SELECT *` expands to real columns. The reads come from the same qualified
tree's scopes: every column of a base table the query names — in a projection,
a WHERE, a JOIN, a GROUP BY or a window — at its script line. Those are the
lines a migration must point at.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage as sqlglot_lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope, traverse_scope

from towpath.sql.resolve import Schemas, aliases_of, columns_read, cte_names, node_line, table_key

__all__ = ["ColumnRead", "ColumnSource", "QueryLineage", "query_lineage"]


@dataclass(frozen=True, order=True)
class ColumnSource:
    """A base-table column (`db.table`, `column`)."""

    table: str
    column: str


@dataclass(frozen=True, order=True)
class ColumnRead:
    """The query names `table.column` at script line `line`."""

    table: str
    column: str
    line: int


@dataclass
class QueryLineage:
    columns: dict[str, list[ColumnSource]] = field(default_factory=dict)
    """Output column (as the query names it) -> the base-table columns it is computed from
    (empty: a constant or a parameter)."""
    reads: list[ColumnRead] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    """Base tables the query reads, in order of first appearance."""
    error: str | None = None
    """Why column lineage could not be computed (tables and reads are still known)."""


def query_lineage(
    query: exp.Query,
    start_line: int,
    known: Schemas,
    *,
    dialect: str,
    views: Mapping[str, exp.Query] | None = None,
    source: str | None = None,
) -> QueryLineage:
    """The lineage of `query` (a SELECT, or an INSERT's/CREATE VIEW's query) starting at script line `start_line`.

    Args:
        known: schemas of the tables the query may read (`CatalogSchemas`).
        views: queries of views created earlier in the same script, by lower-case name;
            a read of one is traced through to its base tables.
        source: the text of the statement `query` comes from, when the caller has it. The trace of
            the same text, at the same line, against the same columns is then computed once per
            process (a scheduler or the worker preflights the same scripts run after run, and
            qualifying the query is most of a preflight). Not with `views`: their text is not in the key.
    """
    if source is None or views:
        return _trace(query, start_line, known, dialect=dialect, views=views)
    key = (source, hash(query), start_line, dialect, columns_read(query, known))
    if (known_trace := _TRACED.get(key)) is None:
        known_trace = _trace(query, start_line, known, dialect=dialect)
        with _TRACED_LOCK:  # a scheduler preflights on several threads
            _TRACED[key] = known_trace
            while len(_TRACED) > _TRACED_KEPT:
                del _TRACED[next(iter(_TRACED))]
    return QueryLineage({k: list(v) for k, v in known_trace.columns.items()}, list(known_trace.reads),
                        list(known_trace.tables), known_trace.error)


_TRACED: dict[tuple[object, ...], QueryLineage] = {}
_TRACED_KEPT = 512
"""Traces kept (the oldest go first): a few per statement a process runs again and again."""
_TRACED_LOCK = threading.Lock()


def _trace(
    query: exp.Query, start_line: int, known: Schemas, *, dialect: str, views: Mapping[str, exp.Query] | None = None,
) -> QueryLineage:
    result = QueryLineage()
    expression: exp.Expr = query.copy()
    if views:
        expression = exp.expand(expression, {k: v.copy() for k, v in views.items()}, dialect=dialect, copy=False)
    schema = _schema_for(expression, known)
    try:
        qualified = qualify(expression, dialect=dialect, schema=schema, validate_qualify_columns=False,
                            identify=False, quote_identifiers=False)
        scope = build_scope(qualified)
    except SqlglotError as exc:
        result.error = str(exc).splitlines()[0]
        result.tables = _tables(expression)
        return result
    if scope is None:
        result.tables = _tables(expression)
        return result
    result.tables = _tables(qualified)
    result.reads = _reads(qualified, start_line)
    try:
        nodes = sqlglot_lineage(None, qualified, schema, dialect=dialect, scope=scope, copy=False, trim_selects=False)
    except (SqlglotError, ValueError) as exc:
        result.error = str(exc).splitlines()[0]
        return result
    for name, node in nodes.items():
        sources = set()
        for leaf in node.walk():
            if leaf.downstream or not isinstance(leaf.expression, exp.Table):
                continue
            sources.add(ColumnSource(table_key(leaf.expression), leaf.name.rsplit(".", 1)[-1].lower()))
        result.columns[name.lower()] = sorted(sources)
    return result


def _schema_for(expression: exp.Expr, known: Schemas) -> dict[str, object]:
    """The nested {db: {table: {column: type}}} sqlglot wants, for the tables `expression` names.

    Types are not needed for lineage and Iceberg's spelling of nested types is not
    every dialect's, so every column is typed `text`.
    """
    nested: dict[str, object] = {}
    ctes = cte_names(expression)
    star = expression.find(exp.Star) is not None
    for table in expression.find_all(exp.Table):
        if not table.db or (table.name.lower() in ctes and not table.db):
            continue
        key = table_key(table)
        columns = known.get(key)
        if columns is not None:
            db, _, name = key.partition(".")
            tables = nested.setdefault(db, {})
            assert isinstance(tables, dict)
            # A renamed column's old name, still readable, is a read of it (a migration waits for those lines
            # to change); not with a `*`, which would expand to the old name too.
            tables[name] = dict.fromkeys([*columns, *([] if star else aliases_of(known, key))], "text")
    return nested


def _tables(expression: exp.Expr) -> list[str]:
    ctes = cte_names(expression)
    found = [table_key(t) for t in expression.find_all(exp.Table)
             if isinstance(t.this, exp.Identifier) and t.db and t.name.lower() not in ctes | {""}]
    return list(dict.fromkeys(found))


def _reads(qualified: exp.Expr, start_line: int) -> list[ColumnRead]:
    reads: set[ColumnRead] = set()
    for scope in traverse_scope(qualified):
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table) and source.db and column.name:
                reads.add(ColumnRead(table_key(source), column.name.lower(), node_line(start_line, column)))
    return sorted(reads, key=lambda r: (r.line, r.table, r.column))
