"""Column aliases: a renamed column's old name stays readable while its rename migration runs.

Iceberg renames by field id (old data files read under the new name) and has no
alias column, and towpath's views live only as long as a script. So the grace
period of a rename is kept in towpath's read path: `towpath migration start`
records the old name in the table property `towpath.column-aliases`, and every
query towpath qualifies — workflow SQL on DuckDB and Spark, `towpath query` —
reads a column named by its old name as the new one (`resolve_aliases`), with a
deprecation warning naming the migration and its deadline. `finish` and
`rollback` end it; a query still using the old name then fails with the
unknown-column error, which (after `finish`) names the rename and its migration.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import traverse_scope

from towpath.sql.resolve import Schemas, column_owner, table_key

__all__ = [
    "ALIASES_PROPERTY",
    "ColumnAlias",
    "aliases_from",
    "resolve_aliases",
    "warn_deprecated",
    "with_alias",
    "without_aliases",
]

ALIASES_PROPERTY = "towpath.column-aliases"
"""Table property: JSON `{old name: {"new": ..., "migration": ..., "deadline": ...}}`."""


log = logging.getLogger("towpath.sql")


def warn_deprecated(aliases: Iterable[ColumnAlias]) -> None:
    """Log a warning for each renamed column a query read by its old name (a workflow's job result
    carries the same text as a warning instead)."""
    for alias in aliases:
        log.warning("warning: %s", alias.message())


@dataclass(frozen=True)
class ColumnAlias:
    """`table.old` reads as `table.new` until migration `migration` finishes."""

    table: str
    old: str
    new: str
    migration: str
    deadline: str | None = None
    finished: str | None = None
    """When the migration finished (the old name is no longer readable; errors still name the rename)."""

    def gone(self) -> str:
        """Why the old name no longer reads, once the migration finished."""
        return (f"unknown column '{self.old}' of {self.table}: it was renamed to '{self.new}' by migration "
                f"{self.migration} (finished {str(self.finished)[:10]}); use '{self.new}'")

    def message(self) -> str:
        until = f" (deadline {self.deadline})" if self.deadline else ""
        return (f"column '{self.old}' of {self.table} was renamed to '{self.new}' by migration {self.migration}: "
                f"the old name is read as '{self.new}' until the migration finishes{until}; use '{self.new}'")


def aliases_from(table: str, properties: Mapping[str, str]) -> dict[str, ColumnAlias]:
    """The aliases a table's properties record, by old name (none when the property is missing or unreadable)."""
    raw = properties.get(ALIASES_PROPERTY)
    if not raw:
        return {}
    try:
        entries = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(entries, dict):
        return {}
    return {old: ColumnAlias(table, old, str(e["new"]), str(e.get("migration", "?")), e.get("deadline"),
                             e.get("finished"))
            for old, e in entries.items() if isinstance(e, dict) and "new" in e}


def with_alias(properties: Mapping[str, str], alias: ColumnAlias) -> str:
    """The property's new value with `alias` added (an earlier alias of the same old name is replaced)."""
    entries = {old: _entry(a) for old, a in aliases_from(alias.table, properties).items()}
    entries[alias.old] = _entry(alias)
    return json.dumps(entries, sort_keys=True)


def without_aliases(properties: Mapping[str, str], migration: str, *, finished: str | None = None) -> str | None:
    """The property's new value with `migration`'s aliases removed (rollback), or marked `finished` at
    that time (finish: no longer readable, but an error can still say what the name became).
    None: nothing is left."""
    kept = {}
    for old, alias in aliases_from("", properties).items():
        if alias.migration != migration:
            kept[old] = _entry(alias)
        elif finished is not None:
            kept[old] = {**_entry(alias), "finished": finished}
    return json.dumps(kept, sort_keys=True) if kept else None


def _names_output(column: exp.Column, select: exp.Expr) -> bool:
    """Whether `column` sits where a bare name may mean one of `select`'s outputs (ORDER BY, HAVING, QUALIFY)."""
    clause = column.find_ancestor(exp.Order, exp.Having, exp.Qualify, exp.Select)
    return clause is not None and not isinstance(clause, exp.Select) and clause.parent is select


def _old_names(renamed: Mapping[str, Mapping[str, ColumnAlias]], source: str) -> Collection[str]:
    return renamed.get(source, {}).keys()


def _entry(alias: ColumnAlias) -> dict[str, str | None]:
    entry = asdict(alias)
    del entry["table"], entry["old"]
    return {k: v for k, v in entry.items() if v is not None}


def resolve_aliases(query: exp.Expression, known: Schemas,
                    aliases: Callable[[str], Mapping[str, ColumnAlias]]) -> list[ColumnAlias]:
    """Rewrite, in place, every column of `query` that names an old name of a table it reads to the new name.

    A column is the table's when it is qualified by the table's alias, or when it is
    unqualified and the table is the one source of its SELECT that can provide it
    (the same attribution the validator and pruning use, `column_owner`). A
    projection keeps its output name (`SELECT old` becomes `SELECT new AS old`), so
    what a downstream job writes does not change shape during the grace period.

    Args:
        known: schemas of the tables the query may read.
        aliases: a table (`db.table`) -> its aliases by old name.

    Returns:
        The aliases used, each once, in order of first use. One whose migration
        finished is returned but not rewritten: the caller reports the old name as
        gone, naming what it became.
    """
    try:
        scopes = traverse_scope(query)
    except SqlglotError:
        return []  # the engine reports what is wrong with the query
    used: dict[tuple[str, str], ColumnAlias] = {}
    for scope in scopes:
        sources = {name.lower(): source for name, (_, source) in scope.selected_sources.items()}
        renamed = {name: aliases(table_key(source)) for name, source in sources.items()
                   if isinstance(source, exp.Table) and source.db}
        if not any(renamed.values()):
            continue
        outputs = {s.alias.lower() for s in scope.expression.selects if isinstance(s, exp.Alias)} if isinstance(
            scope.expression, exp.Select) else set()
        for column in scope.columns:
            name = column.name.lower()
            if not name or isinstance(column.this, exp.Star) or (
                    not column.table and name in outputs and _names_output(column, scope.expression)):
                continue
            owner = column_owner(column, sources, known, extra=functools.partial(_old_names, renamed))
            alias = renamed.get(owner or "", {}).get(name)
            if alias is None:
                continue
            used.setdefault((alias.table, alias.old), alias)
            if alias.finished is not None:
                continue
            new = exp.column(alias.new, table=column.table or None)
            if isinstance(column.parent, exp.Select) and any(s is column for s in column.parent.selects):
                column.replace(exp.alias_(new, column.name))
            else:
                column.replace(new)
    return list(used.values())
