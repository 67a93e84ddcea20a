"""The one attribution rule (`column_owner`) and column aliases (`resolve_aliases`, the alias property)
of the shared SQL room: a table of facts."""

from __future__ import annotations

import json

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from towpath.sql import (
    ALIASES_PROPERTY,
    ColumnAlias,
    ColumnSource,
    aliases_from,
    column_owner,
    query_lineage,
    resolve_aliases,
    resolve_query,
    with_alias,
    without_aliases,
)

KNOWN = {"db.t": {"a": "int", "new": "int", "x": "int"}, "db.u": {"a": "int", "b": "int"}}


def owner(sql: str, column: str) -> str | None:
    tree = sqlglot.parse_one(sql, read="spark")
    [scope] = [s for s in traverse_scope(tree) if s.is_root]
    sources = {name.lower(): source for name, (_, source) in scope.selected_sources.items()}
    node = next(c for c in tree.find_all(exp.Column) if c.sql() == column)
    return column_owner(node, sources, KNOWN)


@pytest.mark.parametrize("sql, column, expected", [
    ("SELECT x FROM db.t", "x", "t"),
    ("SELECT b FROM db.t JOIN db.u ON TRUE", "b", "u"),
    ("SELECT a FROM db.t JOIN db.u ON TRUE", "a", None),  # both have it: ambiguous
    ("SELECT z FROM db.t", "z", None),  # no source has it
    ("SELECT x FROM db.t JOIN db.nope ON TRUE", "x", None),  # an unknown source might have it too
    ("SELECT q.a FROM db.t AS q JOIN db.u ON TRUE", "q.a", "q"),
    ("SELECT x FROM db.t JOIN (SELECT 1 AS k) AS s ON TRUE", "x", "t"),  # a subquery's columns are its outputs
    ("SELECT x FROM db.t JOIN (SELECT * FROM db.u) AS s ON TRUE", "x", None),
])
def test_column_owner(sql: str, column: str, expected: str | None) -> None:
    assert owner(sql, column) == expected


ALIAS = ColumnAlias("db.t", "old", "new", "m-1", "2030-01-31")


def rewrite(sql: str) -> tuple[str, list[ColumnAlias]]:
    tree = sqlglot.parse_one(sql, read="spark")
    used = resolve_aliases(tree, KNOWN, lambda table: {"old": ALIAS} if table == "db.t" else {})
    return tree.sql("spark"), used


@pytest.mark.parametrize("sql, expected", [
    ("SELECT old FROM db.t", "SELECT new AS old FROM db.t"),  # the output keeps its name
    ("SELECT t.old + 1 AS y FROM db.t WHERE old > 0", "SELECT t.new + 1 AS y FROM db.t WHERE new > 0"),
    ("SELECT SUM(old) AS old FROM db.t ORDER BY old", "SELECT SUM(new) AS old FROM db.t ORDER BY old"),
    ("SELECT b FROM db.t JOIN db.u ON t.old = u.b", "SELECT b FROM db.t JOIN db.u ON t.new = u.b"),
    ("WITH c AS (SELECT old FROM db.t) SELECT old FROM c", "WITH c AS (SELECT new AS old FROM db.t) SELECT old FROM c"),
    ("SELECT old FROM db.u", "SELECT old FROM db.u"),  # not the renamed table's column
    ("SELECT old FROM db.t JOIN db.nope ON TRUE", "SELECT old FROM db.t JOIN db.nope ON TRUE"),  # not certain
])
def test_resolve_aliases(sql: str, expected: str) -> None:
    text, used = rewrite(sql)
    assert text == expected
    assert used == ([ALIAS] if text != sql else [])


def test_the_alias_property_round_trips_and_ends() -> None:
    properties = {ALIASES_PROPERTY: with_alias({}, ALIAS)}
    other = ColumnAlias("db.t", "older", "new2", "m-2")
    properties[ALIASES_PROPERTY] = with_alias(properties, other)

    assert aliases_from("db.t", properties) == {"old": ALIAS, "older": other}
    assert json.loads(without_aliases(properties, "m-1") or "") == {"older": {"new": "new2", "migration": "m-2"}}
    finished = without_aliases(properties, "m-1", finished="2030-01-02T00:00:00")
    assert aliases_from("db.t", {ALIASES_PROPERTY: finished or ""})["old"].finished == "2030-01-02T00:00:00"
    assert without_aliases({ALIASES_PROPERTY: with_alias({}, ALIAS)}, "m-1") is None
    assert aliases_from("db.t", {ALIASES_PROPERTY: "not json"}) == {}


def test_the_validator_accepts_an_alias_only_where_schemas_record_it() -> None:
    class WithAliases(dict[str, dict[str, str]]):
        def aliases(self, ident: str) -> dict[str, ColumnAlias]:
            return {"old": ALIAS} if ident == "db.t" else {}

    statement = sqlglot.parse_one("SELECT old FROM db.t", read="spark")

    assert resolve_query(statement, 1, WithAliases(KNOWN)) == []
    [problem] = resolve_query(statement, 1, KNOWN)
    assert "unknown column 'old'" in problem.message


def test_a_kept_trace_is_traced_again_when_a_table_it_reads_changes_its_columns() -> None:
    text = "SELECT * FROM db.t"
    query = sqlglot.parse_one(text, read="spark")
    assert isinstance(query, exp.Query)
    first = query_lineage(query, 1, KNOWN, dialect="spark", source=text)
    assert sorted(first.columns) == ["a", "new", "x"]
    first.columns.clear()  # what a caller does with its copy does not reach the kept trace
    assert sorted(query_lineage(query, 1, KNOWN, dialect="spark", source=text).columns) == ["a", "new", "x"]
    widened = {**KNOWN, "db.t": {**KNOWN["db.t"], "y": "int"}}
    assert sorted(query_lineage(query, 1, widened, dialect="spark", source=text).columns) == ["a", "new", "x", "y"]
    moved = query_lineage(query, 7, KNOWN, dialect="spark", source=text)
    assert moved.columns["a"] == [ColumnSource("db.t", "a")] and all(r.line == 7 for r in moved.reads)


def test_a_kept_resolution_is_resolved_again_when_a_table_it_reads_loses_a_column() -> None:
    text = "SELECT a, x FROM db.t"
    statement = sqlglot.parse_one(text, read="spark")
    assert resolve_query(statement, 3, KNOWN, source=text) == []
    assert resolve_query(statement, 3, KNOWN, source=text) == []  # kept: the same text, line and columns
    narrowed = {**KNOWN, "db.t": {"a": "int"}}
    [problem] = resolve_query(statement, 3, narrowed, source=text)
    assert problem.line == 3 and "unknown column 'x'" in problem.message
    [again] = resolve_query(statement, 3, narrowed, source=text)  # a problem is never kept
    assert again == problem
