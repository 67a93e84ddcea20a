"""The statements the SQL connectors run, built as sqlglot expressions for any `SqlDialect`."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from sqlglot import exp

from towpath.connectors._sql.identifiers import column, table_expr
from towpath.connectors._sql.types import MYSQL, SqlDialect, sql_type


def create_table(
    table: str, schema: pa.Schema, dialect: SqlDialect, *, key: Sequence[str] = (), if_not_exists: bool = True
) -> exp.Create:
    """CREATE TABLE for an Arrow schema; `key` columns become NOT NULL and the primary key."""
    keys = set(key)
    defs: list[exp.Expression] = []
    for f in schema:
        constraints = [exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())] if f.name in keys else []
        defs.append(
            exp.ColumnDef(
                this=exp.to_identifier(f.name, quoted=True),
                kind=sql_type(f.type, dialect, key=f.name in keys),
                constraints=constraints,
            )
        )
    if key:
        defs.append(exp.PrimaryKey(expressions=[exp.to_identifier(k, quoted=True) for k in key]))
    properties = (
        exp.Properties(expressions=[exp.CharacterSetProperty(this=exp.var(dialect.charset), default=True)])
        if dialect.charset else None
    )
    return exp.Create(
        this=exp.Schema(this=table_expr(table), expressions=defs), kind="TABLE", exists=if_not_exists,
        properties=properties,
    )


def create_staging(staging: str, target: str, columns: Sequence[str]) -> exp.Create:
    """A temporary table shaped like `target`'s `columns` (no constraints), for staging writes."""
    select = exp.select(*(column(c) for c in columns)).from_(table_expr(target)).limit(0)
    return exp.Create(
        this=table_expr(staging),
        kind="TABLE",
        expression=select,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def drop_table(table: str) -> exp.Drop:
    return exp.Drop(tables=[table_expr(table)], kind="TABLE", exists=True)


def select_from(table: str, columns: Sequence[str] | None = None) -> exp.Select:
    cols = [column(c) for c in columns] if columns else [exp.Star()]
    return exp.select(*cols).from_(table_expr(table))


def delete_all(table: str) -> exp.Delete:
    """DELETE FROM table: transactional everywhere (MySQL's TRUNCATE commits implicitly)."""
    return exp.delete(table_expr(table))


def insert_values(table: str, columns: Sequence[str], placeholder: exp.Expression) -> exp.Insert:
    """INSERT INTO table (cols) VALUES (?, ?, ...) for `executemany`."""
    return exp.Insert(
        this=exp.Schema(this=table_expr(table), expressions=[exp.to_identifier(c, quoted=True) for c in columns]),
        expression=exp.Values(expressions=[exp.Tuple(expressions=[placeholder.copy() for _ in columns])]),
    )


def insert_select(target: str, columns: Sequence[str], query: exp.Select) -> exp.Insert:
    return exp.Insert(
        this=exp.Schema(this=table_expr(target), expressions=[exp.to_identifier(c, quoted=True) for c in columns]),
        expression=query,
    )


def on_conflict_update(columns: Sequence[str], key: Sequence[str], dialect: SqlDialect) -> exp.OnConflict:
    """The merge clause for `dialect`: ON CONFLICT (key) DO UPDATE / ON DUPLICATE KEY UPDATE.

    Columns other than the key take the incoming row's value; with nothing but
    key columns the conflict is ignored (DO NOTHING / a no-op self-assignment).
    """
    rest = [c for c in columns if c not in set(key)]
    if dialect is MYSQL:
        targets = rest or list(key)[:1]
        sets = [
            exp.EQ(this=column(c), expression=exp.Anonymous(this="VALUES", expressions=[column(c)]))
            for c in targets
        ]
        return exp.OnConflict(duplicate=True, expressions=sets, action=exp.var("UPDATE"))
    keys = [column(k) for k in key]
    if not rest:
        return exp.OnConflict(conflict_keys=keys, action=exp.var("DO NOTHING"))
    sets = [exp.EQ(this=column(c), expression=column(c, "excluded")) for c in rest]
    return exp.OnConflict(conflict_keys=keys, expressions=sets, action=exp.var("DO UPDATE"))
