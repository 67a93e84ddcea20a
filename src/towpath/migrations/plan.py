"""`plan`: find every consumer a table change affects, classify it, name its owner, record the migration."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from towpath.errors import TableNotFoundError
from towpath.migrations.change import Change
from towpath.migrations.errors import MigrationError
from towpath.migrations.record import Consumer, Migration, Reference, save

if TYPE_CHECKING:
    from towpath.lineage import LineageGraph
    from towpath.project import Project

__all__ = ["plan_migration", "rescan"]


def rescan(project: Project) -> LineageGraph:
    """Refresh every workflow's static lineage from the repository (what `project validate` does)."""
    from towpath.lineage import LineageGraph
    from towpath.testing import validate_project

    validate_project(project)
    return LineageGraph.from_state(project.state)


def plan_migration(project: Project, table: str, change: Change, *, reason: str | None = None,
                   deadline: str | None = None, today: dt.date | None = None) -> Migration:
    """Plan `change` of `table` and record it (status `planned`); nothing is changed yet.

    Raises:
        TableNotFoundError: no such table.
        MigrationError: the change does not fit the table (an unknown column, a taken name, a bad type
            or deadline).
    """
    from towpath.catalog import get_metadata, normalize_identifier
    from towpath.notify import Notifier

    ident = normalize_identifier(table)
    if not project.catalog.exists(ident):
        raise TableNotFoundError(ident, project.catalog.list_tables())
    columns = {f.name.lower(): str(f.field_type) for f in project.catalog.table(ident).schema().fields}
    _check(change, columns, ident)
    if deadline is not None:
        try:
            dt.date.fromisoformat(deadline)
        except ValueError:
            raise MigrationError(f"--deadline: expected an ISO date like 2027-01-31, got '{deadline}'") from None
    graph = rescan(project)
    stamp = dt.datetime.now(dt.UTC)
    digest = hashlib.sha256(f"{ident}:{change.to_json()}:{stamp.isoformat()}".encode()).hexdigest()[:6]
    short = ident.split(".")[-1][:20].strip("_")
    migration = Migration(
        id=f"m{(today or stamp.date()):%Y%m%d}-{short}-{change.kind.split('_')[0]}-{digest}",
        table=ident, change=change, reason=reason, deadline=deadline, created_at=stamp.isoformat(),
        table_owner=get_metadata(project.catalog, ident).owner,
    )
    migration.consumers = consumers(graph, ident, change, columns)
    for consumer in migration.consumers:  # a workflow without `owner:` is answered for by its tables' owner
        if consumer.owner is None:
            consumer.owner = _table_owner(project, graph, consumer.workflow)
    notifier = Notifier.for_project(project.root, project.config)
    for owner in {c.owner for c in migration.consumers} | {migration.table_owner}:
        if owner:
            migration.owners[owner] = list(notifier.addresses(owner))
    if migration.breaking and change.kind in ("drop_column", "change_type"):
        migration.new_table = f"{ident}_v2"
        migration.backfill = backfill_sql(ident, migration.new_table, change, list(columns), project.config.dialect)
    migration.history.append({"status": "planned", "at": stamp.isoformat()})
    save(project.state, migration)
    return migration


def consumers(graph: LineageGraph, table: str, change: Change, columns: dict[str, str]) -> list[Consumer]:
    """Every job whose code names `table`: breaking when it names the touched column, with each line."""
    touched = change.touched
    found: dict[tuple[str, str], Consumer] = {}
    for use in graph.uses:
        if use.table != table:
            continue
        key = (use.workflow_id, use.job_id)
        consumer = found.setdefault(key, Consumer(use.workflow_id, use.job_id, graph.owner(use.workflow_id), "additive"))
        if touched is not None and use.column == touched:
            consumer.references.append(Reference(use.file, use.line, use.column, use.role, _text(use.file, use.line)))
    for e in graph.edges:  # the jobs that compute the touched column name it too (a Python job's `lineage:`)
        if e.target == table and touched is not None and e.target_column == touched and e.kind == "declared":
            consumer = found.setdefault((e.workflow_id or "?", e.job_id or "?"),
                                        Consumer(e.workflow_id or "?", e.job_id or "?", graph.owner(e.workflow_id or ""),
                                                 "additive"))
            ref = Reference(e.file, e.line, touched, "write", _text(e.file, e.line))
            if ref not in consumer.references:
                consumer.references.append(ref)
    for consumer in found.values():
        consumer.references.sort(key=lambda r: (r.file or "", r.line or 0))
        consumer.impact = "breaking" if change.breaks(bool(consumer.references), columns.get(touched or "")) else "additive"
    if touched is not None and change.kind in ("drop_column", "change_type"):
        _downstream(graph, table, touched, found)
    return sorted(found.values(), key=lambda c: (c.impact != "breaking", c.workflow, c.job))


def _downstream(graph: LineageGraph, table: str, column: str, found: dict[tuple[str, str], Consumer]) -> None:
    """Jobs reading a column computed from the changed one: its values change too (listed, additive)."""
    from towpath.lineage import Node

    view = graph.walk(Node(table, column), "downstream")
    for hop in view.hops:
        if hop.target.column is None:
            continue
        for use in graph.uses:
            if use.table == hop.target.table and use.column == hop.target.column and use.role == "read":
                key = (use.workflow_id, use.job_id)
                if key not in found:
                    found[key] = Consumer(use.workflow_id, use.job_id, graph.owner(use.workflow_id), "additive",
                                          via=str(hop.target))


def backfill_sql(table: str, new_table: str, change: Change, columns: list[str], dialect: str) -> str:
    """`INSERT INTO new SELECT ... FROM old` with the change applied (a sqlglot expression, not f-strings)."""
    selects: list[exp.Expr] = []
    for name in columns:
        if change.kind == "drop_column" and name == change.column:
            continue
        column = exp.column(name)
        if change.kind == "change_type" and name == change.column and change.type:
            selects.append(exp.alias_(exp.cast(column, exp.DataType.build(change.type, dialect=dialect)), name))
        else:
            selects.append(column)
    query = exp.select(*selects).from_(exp.to_table(table))
    return sqlglot.exp.insert(query, exp.to_table(new_table)).sql(dialect=dialect, pretty=True)


def _table_owner(project: Project, graph: LineageGraph, workflow: str) -> str | None:
    """The metadata owner of the first table `workflow` writes that has one."""
    from towpath.catalog import get_metadata
    from towpath.errors import CatalogError

    for table in dict.fromkeys(u.table for u in graph.uses if u.workflow_id == workflow and u.role == "write"):
        try:
            owner = get_metadata(project.catalog, table).owner
        except CatalogError:
            continue
        if owner:
            return owner
    return None


def _check(change: Change, columns: dict[str, str], table: str) -> None:
    from towpath.types import TypeNameError, parse_type

    if change.kind == "add_column" and change.column and change.column.lower() in columns:
        raise MigrationError(f"{table} already has a column '{change.column}'")
    if change.touched is not None and change.touched.lower() not in columns:
        import difflib

        close = difflib.get_close_matches(change.touched.lower(), list(columns), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (it has {', '.join(columns)})"
        raise MigrationError(f"{table} has no column '{change.touched}'{hint}")
    if change.kind == "rename_column" and change.new_name and change.new_name.lower() in columns:
        raise MigrationError(f"{table} already has a column '{change.new_name}'")
    if change.type is not None:
        try:
            parse_type(change.type)
        except TypeNameError as exc:
            raise MigrationError(f"type '{change.type}': {exc}") from None
    if change.kind == "repartition":
        from towpath.migrations.apply import parse_partition

        for source, _, _ in parse_partition(change.partition or ""):
            if source not in columns:
                raise MigrationError(f"--repartition: {table} has no column '{source}'")


def _text(file: str | None, line: int | None) -> str:
    if not file or not line:
        return ""
    try:
        lines = Path(file).read_text().splitlines()
    except OSError:
        return ""
    return lines[line - 1].strip() if line <= len(lines) else ""
