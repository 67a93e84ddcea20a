"""Resolve the tables and columns a statement names against known schemas, reporting every miss.

Column resolution walks sqlglot's scopes itself rather than calling
`optimizer.qualify`: `qualify` stops at the first unknown column, and a report
that shows one problem per run makes users run it ten times.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from towpath.errors import first_line

if TYPE_CHECKING:
    from towpath.sql.aliases import ColumnAlias

__all__ = [
    "Schemas",
    "SqlProblem",
    "aliases_of",
    "column_owner",
    "columns_read",
    "cte_names",
    "node_line",
    "resolve_query",
    "source_columns",
    "table_key",
    "unknown_table",
]

Schemas: TypeAlias = Mapping[str, Mapping[str, str]]
"""`db.table` -> {column name, lower case -> type}: what a statement may read."""


@dataclass(frozen=True, order=True)
class SqlProblem:
    """One thing a statement names that does not exist, at a line of its script."""

    line: int
    message: str


def table_key(table: exp.Table) -> str:
    """`db.name` (or a bare `name`), lower-cased; a catalog part is dropped.

    >>> table_key(exp.to_table("Cat.Foo.Bar"))
    'foo.bar'
    """
    return ".".join(p for p in (table.db, table.name) if p).lower()


def cte_names(expression: exp.Expr) -> set[str]:
    """Names the query's `WITH` clauses define (a bare reference to one is not a table)."""
    return {cte.alias_or_name.lower() for cte in expression.find_all(exp.CTE)}


def node_line(start_line: int, node: exp.Expression) -> int:
    """The script line of `node`: its statement's first line plus the node's line inside the statement."""
    target = node.this if isinstance(node, (exp.Column, exp.Table)) and isinstance(node.this, exp.Expression) else node
    meta_line = target.meta.get("line") if target.meta else None
    return int(start_line + meta_line - 1) if meta_line else int(start_line)


def unknown_table(ident: str, known: Iterable[str]) -> str:
    """`unknown table 'db.t'; did you mean 'db.u'?`."""
    close = difflib.get_close_matches(ident, list(known), n=1)
    return f"unknown table '{ident}'" + (f"; did you mean '{close[0]}'?" if close else "")


def resolve_query(
    statement: exp.Expression,
    start_line: int,
    known: Schemas,
    *,
    views: Collection[str] = (),
    report_unknown_tables: bool = True,
    source: str | None = None,
) -> list[SqlProblem]:
    """Every table and column `statement` (a SELECT, an INSERT or a CREATE VIEW) names that `known` lacks.

    Args:
        statement: the parsed statement.
        start_line: the script line the statement starts on (problems are at script lines).
        known: schemas of every table the statement may read.
        views: unqualified view names created earlier in the script.
        report_unknown_tables: off when an earlier opaque step (Python code) may create tables;
            columns of unknown tables are never checked.
        source: the statement's text, when the caller has it. That the same text, at the same
            line, against the same columns resolves without a problem is then kept for the
            process (a scheduler or the worker preflights the same scripts run after run; walking
            the query's scopes is ~1 ms of a warm seed run), as `query_lineage` keeps its trace.
    """
    if source is None:
        return _resolve(statement, start_line, known, views, report_unknown_tables)
    key = (source, hash(statement), start_line, frozenset(views), report_unknown_tables, columns_read(statement, known))
    if key in _RESOLVED:
        return []
    problems = _resolve(statement, start_line, known, views, report_unknown_tables)
    if not problems:  # a problem's hints read the whole catalog's names, which the key does not hold
        with _RESOLVED_LOCK:
            _RESOLVED[key] = None
            while len(_RESOLVED) > _RESOLVED_KEPT:
                del _RESOLVED[next(iter(_RESOLVED))]
    return problems


_RESOLVED: dict[tuple[object, ...], None] = {}
_RESOLVED_KEPT = 512
_RESOLVED_LOCK = threading.Lock()


def columns_read(statement: exp.Expr, known: Schemas) -> tuple[object, ...]:
    """What resolving or tracing `statement` may look up in `known`: each table's columns and column
    aliases, in order (a key for keeping what they found)."""
    tables = dict.fromkeys(table_key(t) for t in statement.find_all(exp.Table) if t.db)
    return tuple((key, tuple(known.get(key) or ()), key in known, tuple(aliases_of(known, key))) for key in tables)


def _resolve(statement: exp.Expression, start_line: int, known: Schemas, views: Collection[str],
             report_unknown_tables: bool) -> list[SqlProblem]:
    problems: list[SqlProblem] = []
    ctes = cte_names(statement)
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or (not table.db and table.name.lower() in ctes):
            continue
        if not table.db:
            if table.name.lower() not in views:
                problems.append(SqlProblem(node_line(start_line, table), f"unknown table or view '{table.name}'"))
            continue
        ident = table_key(table)
        if ident not in known and report_unknown_tables:
            problems.append(SqlProblem(node_line(start_line, table), unknown_table(ident, known)))
    query = statement.expression if isinstance(statement, (exp.Insert, exp.Create)) else statement
    if isinstance(query, exp.Query):
        problems += _columns(query, start_line, known)
    return problems


def _columns(query: exp.Query, start_line: int, known: Schemas) -> list[SqlProblem]:
    try:
        scopes = traverse_scope(query)
    except SqlglotError as err:
        return [SqlProblem(start_line, f"cannot analyse the query: {first_line(err)}")]
    problems = []
    for scope in scopes:
        sources = {name.lower(): _readable(source, known) for name, (_, source) in scope.selected_sources.items()}
        # ORDER BY / HAVING / QUALIFY may name a projection's alias.
        aliases = {s.alias.lower() for s in scope.expression.selects if isinstance(s, exp.Alias)} if isinstance(
            scope.expression, exp.Select) else set()
        for column in scope.columns:
            name = column.name.lower()
            if not name or isinstance(column.this, exp.Star):
                continue
            qualifier = column.table.lower() if column.table else None
            line = node_line(start_line, column)
            if qualifier:
                if qualifier not in sources:
                    continue  # an outer-scope (correlated) reference, or a struct field access
                columns = sources[qualifier]
                if columns is not None and name not in columns:
                    hint = _renamed(scope, [qualifier], name, known) or _hint(name, columns)
                    problems.append(SqlProblem(line, f"unknown column '{column.name}' in {_describe(scope, qualifier)}{hint}"))
                continue
            if name in aliases or any(c is None for c in sources.values()):
                continue
            if not any(name in (c or set()) for c in sources.values()):
                everything = set().union(*(c or set() for c in sources.values())) if sources else set()
                where = ", ".join(sorted(sources)) or "the query"
                hint = _renamed(scope, list(sources), name, known) or _hint(name, everything)
                problems.append(SqlProblem(line, f"unknown column '{column.name}' (not in {where}){hint}"))
    return problems


def source_columns(source: Any, known: Schemas) -> set[str] | None:
    """Column names a FROM/JOIN source provides (a catalog table, a subquery or its scope); None when
    unknown (no schema, `SELECT *`, a function, a table bound to something else)."""
    if isinstance(source, exp.Table):
        if not isinstance(source.this, exp.Identifier) or not source.db:
            return None
        columns = known.get(table_key(source))
        return set(columns) if columns is not None else None
    if isinstance(source, (Scope, exp.Subquery)):
        expression = source.expression if isinstance(source, Scope) else source.this
        if not isinstance(expression, exp.Query):
            return None
        selects = expression.selects
        if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and isinstance(s.this, exp.Star))
               for s in selects):
            return None
        return {name.lower() for name in expression.named_selects}
    return None


def column_owner(column: exp.Column, sources: Mapping[str, Any], known: Schemas, *,
                 extra: Callable[[str], Collection[str]] = lambda _: ()) -> str | None:
    """Which of a SELECT's FROM/JOIN `sources` (by lower-case alias) provides `column`; None when that is
    not certain.

    Qualified, it is its qualifier's source. Unqualified, it is the one source that has
    a column of that name, and only when every other source's columns are known
    (an unknown one might have it too). `extra(source name)` adds names a source also
    answers to (a renamed column's old name during its grace period).

    The one attribution rule of towpath's SQL analysis: the engines' scan pruning
    and column aliases both ask it (the validator's "no source has it" is its empty case).
    """
    if column.table:
        qualifier = column.table.lower()
        return qualifier if qualifier in sources else None
    name = column.name.lower()
    owners = []
    for source_name, source in sources.items():
        columns = source_columns(source, known)
        if columns is None:
            return None
        if name in columns or name in extra(source_name):
            owners.append(source_name)
    return owners[0] if len(owners) == 1 else None


def _readable(source: Any, known: Schemas) -> set[str] | None:
    """`source_columns` plus the old names a table's column aliases keep readable."""
    columns = source_columns(source, known)
    if columns is not None and isinstance(source, exp.Table):
        columns |= set(aliases_of(known, table_key(source)))
    return columns


def aliases_of(known: Schemas, ident: str, kind: str = "aliases") -> Mapping[str, ColumnAlias]:
    """The column aliases (old name -> `ColumnAlias`) of `ident` when `known` records them (`CatalogSchemas`):
    those in their grace period (`aliases`), or those whose migration finished (`renamed`)."""
    lookup = getattr(known, kind, None)
    found: Mapping[str, ColumnAlias] = lookup(ident) if callable(lookup) else {}
    return found


def _describe(scope: Scope, qualifier: str) -> str:
    _, source = scope.selected_sources.get(qualifier, (None, None))
    if isinstance(source, exp.Table) and source.db:
        return f"table {table_key(source)}"
    return f"'{qualifier}'"


def _renamed(scope: Scope, names: list[str], column: str, known: Schemas) -> str:
    """`; it was renamed to 'x' by migration M (finished ...)` when a finished rename took that name away."""
    for name in names:
        _, source = scope.selected_sources.get(name, (None, None))
        if isinstance(source, exp.Table) and source.db:
            alias = aliases_of(known, table_key(source), "renamed").get(column)
            if alias is not None:
                return "; " + alias.gone().split(": ", 1)[1]
    return ""


def _hint(name: str, columns: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(columns), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
