"""A query's engine SQL kept with a slot for each catalog table: binding it again is planning and pasting.

`SqlEngine.bind` copies a query's tree, replaces each catalog table by what
the engine should read (the files planned for it) and generates the engine's
SQL from the result. For the query a WAP's audits share (four audits over the
branch, 1.7k characters) that is 4.5 ms of Python per run, half of what DuckDB
then takes to plan and run it, and the same work every run: only the planned
files differ. A `SlotTemplate` keeps, per query text, the parsed tree (never
changed: planning reads its predicates) and its SQL with a marker where each
catalog table goes; binding it again plans those tables and puts each scan's
SQL in its slot. A script statement's query (an INSERT's SELECT, a workflow's
daily write) is kept the same way, by the statement's text.

Only queries whose every table is a CTE or a qualified catalog name get one.
Whether a name is a view or a registered table, and whether a table has
renamed columns, can change between calls: `SqlEngine` checks both each time
and binds the whole tree whenever either is the case.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from towpath.catalog import normalize_identifier
from towpath.sql import cte_names, table_key

_KEEP = 256
"""Templates kept per process (a worker runs the same few workflows again and again)."""


@dataclass(frozen=True, eq=False)
class Slot:
    table: exp.Table
    """The table's node in the template's tree (for planning; never changed)."""
    key: str
    """Its name as written, lower-cased (`table_key`): what views and registrations are looked up by."""
    ident: str
    """Its catalog identifier."""


@dataclass(frozen=True, eq=False)
class SlotTemplate:
    tree: exp.Expression
    slots: tuple[Slot, ...]
    sql: str
    """The engine's SQL with `_marker(i)` where slot `i`'s scan goes."""
    line: int
    """The line of the query text its statement starts on (for errors)."""

    def fill(self, scans: Sequence[str]) -> str:
        """The SQL with each slot's scan (in the engine's dialect, aliased as the table was) in place."""
        sql = self.sql
        for index, scan in enumerate(scans):
            sql = sql.replace(_marker(index), scan, 1)
        return sql


def build(tree: exp.Expression, dialect: str, line: int) -> SlotTemplate | None:
    """A template for `tree` (not changed, and not to be changed after), or None if it reads anything else."""
    ctes = cte_names(tree)
    slots = []
    for table in _named_tables(tree):
        key = table_key(table)
        if not table.args.get("db"):
            if key in ctes:
                continue
            return None  # a view, a registered table or an engine's own name: resolved at bind time
        slots.append(Slot(table, key, normalize_identifier(key)))
    marked = tree.copy()
    qualified = [t for t in _named_tables(marked) if t.args.get("db")]  # in the same order as `slots`
    for index, table in enumerate(qualified):
        table.replace(exp.to_table(_marker(index)))
    sql = marked.sql(dialect=dialect, copy=False)
    if any(sql.count(_marker(index)) != 1 for index in range(len(slots))):
        return None  # a marker the generator rewrote, or a literal that spells one
    return SlotTemplate(tree, tuple(slots), sql, line)


class TemplateCache:
    """Templates by (engine dialect, query text, query dialect); None marks a query that cannot have one."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[str, str, str], SlotTemplate | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> SlotTemplate | None:
        """The kept template, or None for a query that has none.

        Raises:
            KeyError: nothing is kept for `key` yet.
        """
        with self._lock:
            template = self._kept[key]
            self._kept.move_to_end(key)
            return template

    def put(self, key: tuple[str, str, str], template: SlotTemplate | None) -> None:
        with self._lock:
            self._kept[key] = template
            while len(self._kept) > _KEEP:
                self._kept.popitem(last=False)


def _named_tables(tree: exp.Expression) -> list[exp.Table]:
    return [t for t in tree.find_all(exp.Table) if isinstance(t.this, exp.Identifier)]


def _marker(index: int) -> str:
    return f"__towpath_slot_{index}__"
