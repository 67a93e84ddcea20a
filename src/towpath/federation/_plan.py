"""A federated statement, parsed and split: the query with placeholders and the references they stand for.

Shared by both executors, so DuckDB and Spark agree on what a name means: a
connection's table (`ehr.patients`, `ehr.health.patients`), a lake table of the
project catalog (`claims.history`), or a mistake ("did you mean").
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from towpath.config.connections import ConnectionSpec
from towpath.engines.script import describe, parse_script
from towpath.errors import SqlError
from towpath.federation._refs import SourceRef, split_references
from towpath.federation.errors import FederationError

__all__ = ["FederatedQuery", "plan_query"]


@dataclass
class FederatedQuery:
    """The statement with each connection table replaced by a placeholder (see `_refs`)."""

    expression: exp.Expression
    """A SELECT (checked by `plan_query`)."""
    sources: list[SourceRef]

    def connections(self) -> list[str]:
        """The connections the statement reads, each once, in order of first use."""
        return list(dict.fromkeys(ref.connection for ref in self.sources))


def plan_query(sql: str | exp.Expression, connections: Mapping[str, ConnectionSpec], *, dialect: str) -> FederatedQuery:
    """Parse one SELECT (in `dialect`) and split its connection tables from its lake tables.

    Raises:
        SqlError: not exactly one SELECT, or it does not parse.
        FederationError: a three-part name whose first part is no connection ("did you mean").
    """
    expression: exp.Expression
    if not isinstance(sql, str):
        expression = sql.copy()
    else:
        statements = parse_script(sql, dialect=dialect)
        if len(statements) != 1:
            raise SqlError(f"a query is exactly one statement, got {len(statements)}", line=1)
        expression = statements[0].expression
    if not isinstance(expression, exp.Query):
        raise SqlError(f"a query is a SELECT, got {describe(expression)}", line=1)
    sources = split_references(expression, connections)
    for table in expression.find_all(exp.Table):
        if table.catalog:  # three parts, and the first is no connection (split_references took those)
            close = difflib.get_close_matches(table.catalog.lower(), [n.lower() for n in connections], n=1)
            known = ", ".join(sorted(connections)) or "none are declared in towpath.yaml"
            hint = f" Did you mean '{close[0]}'?" if close else f" Connections: {known}."
            raise FederationError(f"'{table.sql()}' names no connection '{table.catalog}'.{hint}")
    return FederatedQuery(expression, sources)
