"""Table and column names as quoted sqlglot expressions (never spliced into SQL text)."""

from __future__ import annotations

from sqlglot import exp

from towpath.errors import ConnectorError


def table_expr(name: str) -> exp.Table:
    """`schema.table` or `table` as a quoted sqlglot table (names are taken literally, case kept)."""
    parts = [p.strip() for p in name.split(".")]
    if not all(parts):
        raise ConnectorError(f"invalid table name '{name}': expected 'table' or 'schema.table'")
    ident = [exp.to_identifier(p, quoted=True) for p in parts]
    if len(ident) == 1:
        return exp.Table(this=ident[0])
    if len(ident) == 2:
        return exp.Table(this=ident[1], db=ident[0])
    return exp.Table(this=ident[2], db=ident[1], catalog=ident[0])


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True), table=exp.to_identifier(table) if table else None)
