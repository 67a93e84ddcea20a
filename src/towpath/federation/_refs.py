"""Which table references of a query name a connection, and the placeholders that stand in for them.

A reference names a connection when its first part is a connection's name:
`ehr.patients` (the connection's default schema) or `ehr.health.patients`. Every
other qualified name is a lake table of the project catalog. Each connection
reference is swapped for a bare placeholder name (keeping its alias, or its own
name as alias, so `patients.id` still binds): the engine's binding leaves bare
names alone, and each executor then puts back what its engine reads there (an
attached DuckDB table, a Spark JDBC view, a KV lookup).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from towpath.config.connections import ConnectionSpec
from towpath.sql import cte_names

__all__ = ["SourceRef", "hide_qualified", "restore", "split_references"]

_counter = itertools.count()


@dataclass(frozen=True)
class SourceRef:
    """One reference to a connection's table, replaced in the query by `placeholder`."""

    placeholder: str
    connection: str
    schema: str | None
    """The schema the query named (None: the connection's default)."""
    table: str

    @property
    def display(self) -> str:
        return ".".join(p for p in (self.connection, self.schema, self.table) if p)


def split_references(query: exp.Expression, connections: Mapping[str, ConnectionSpec]) -> list[SourceRef]:
    """Swap (in place) every reference to a connection's table for a placeholder; the references, in order."""
    ctes = cte_names(query)
    names = {name.lower(): name for name in connections}
    refs: list[SourceRef] = []
    for table in list(query.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            continue
        catalog, db, name = table.catalog, table.db, table.name
        if not db and name.lower() in ctes:
            continue
        if catalog and catalog.lower() in names:
            ref = SourceRef(_placeholder(), names[catalog.lower()], db, name)
        elif db and not catalog and db.lower() in names:
            ref = SourceRef(_placeholder(), names[db.lower()], None, name)
        else:
            continue
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
        table.replace(exp.Table(this=exp.to_identifier(ref.placeholder), alias=alias.copy()))
        refs.append(ref)
    return refs


def restore(query: exp.Expression, replacements: Mapping[str, exp.Expression]) -> exp.Expression:
    """Put each placeholder's replacement (a table or subquery) in its place, keeping the alias."""

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and not node.db and node.name in replacements:
            new = replacements[node.name].copy()
            new.set("alias", node.args.get("alias"))
            return new
        return node

    return query.transform(swap, copy=False)


def hide_qualified(query: exp.Expression) -> dict[str, exp.Expression]:
    """Swap (in place) every `db.table` reference for a placeholder; `restore` with the result puts them back.

    Lets one catalog's engine bind its own tables of a query without seeing another catalog's.
    """
    hidden: dict[str, exp.Expression] = {}
    for table in list(query.find_all(exp.Table)):
        if isinstance(table.this, exp.Identifier) and table.db:
            name = _placeholder()
            alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
            hidden[name] = table.copy()
            table.replace(exp.Table(this=exp.to_identifier(name), alias=alias.copy()))
    return hidden


def _placeholder() -> str:
    return f"_towpath_source_{next(_counter)}"
