"""`start`, `rollback` and `finish`: apply a planned change to the Iceberg table, undo it, close it.

In place, through Iceberg schema and partition evolution (metadata only, no data
rewritten): added columns, renames (by field id, so old data files read under
the new name), safe type promotions, new partition fields. A breaking change (a
drop, a narrowing type change) creates a new table `<table>_v2` and backfills
it from the old one; the old table stays until `finish`. Before anything is
changed, the table's current schema id, partition spec id and snapshot id are
recorded: `rollback` sets the schema and spec back (Iceberg keeps every schema)
and drops the new table. A rename keeps the old name readable until `finish`:
the same commit records it in the table property `towpath.column-aliases`,
which every query towpath qualifies reads (`towpath.sql.resolve_aliases`);
`finish` marks it finished (errors then name the rename), `rollback` removes it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from towpath.migrations.errors import MigrationError
from towpath.migrations.record import Migration, save
from towpath.sql import ALIASES_PROPERTY, ColumnAlias, with_alias, without_aliases

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from towpath.project import Project

__all__ = ["finish_migration", "parse_partition", "rollback_migration", "start_migration"]

_TRANSFORM = re.compile(r"^\s*(?:(?P<fn>year|month|day|hour|bucket|truncate)\s*\(\s*(?:(?P<n>\d+)\s*,\s*)?"
                        r"(?P<col>[A-Za-z_][A-Za-z0-9_]*)\s*\)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))\s*$", re.IGNORECASE)


def parse_partition(spec: str) -> list[tuple[str, str, int | None]]:
    """`country_code, day(ts), bucket(16, id)` -> [(source column, transform, N)]."""
    out: list[tuple[str, str, int | None]] = []
    for part in _split(spec):
        match = _TRANSFORM.match(part)
        if not match:
            raise MigrationError(f"--repartition: cannot read '{part}' (expected col, year(col), month(col), "
                                 "day(col), hour(col), bucket(N, col) or truncate(N, col))")
        if match.group("plain"):
            out.append((match.group("plain").lower(), "identity", None))
        else:
            fn, n = match.group("fn").lower(), match.group("n")
            if fn in ("bucket", "truncate") and n is None:
                raise MigrationError(f"--repartition: {fn} needs a width, e.g. {fn}(16, {match.group('col')})")
            out.append((match.group("col").lower(), fn, int(n) if n else None))
    if not out:
        raise MigrationError("--repartition: give at least one partition field")
    return out


def start_migration(project: Project, migration_id: str) -> Migration:
    """Apply the change; records what it did first, so a failure halfway can still be rolled back."""
    from towpath.migrations.record import load

    migration = load(project.state, migration_id)
    if migration.status not in ("planned", "notified"):
        raise MigrationError(f"migration {migration.id} is {migration.status}; only a planned or notified one starts")
    catalog = project.catalog
    table = catalog.table(migration.table, write=True)
    migration.applied = {
        "schema_id": table.schema().schema_id, "spec_id": table.spec().spec_id,
        "snapshot_id": catalog.snapshot_id(migration.table),
    }
    change = migration.change
    if migration.new_table:
        _new_table(project, migration, table)
    elif change.kind == "repartition":
        with table.update_spec() as update:
            for source, transform, n in parse_partition(change.partition or ""):
                update.add_field(source, _transform(transform, n), f"{source}_{transform}" if transform != "identity" else source)
    else:
        from towpath.types import parse_type

        with table.transaction() as transaction:
            with transaction.update_schema() as schema:
                if change.kind == "add_column":
                    schema.add_column(change.column or "", parse_type(change.type or ""))
                elif change.kind == "rename_column":
                    schema.rename_column(change.column or "", change.new_name or "")
                elif change.kind == "change_type":
                    schema.update_column(change.column or "", field_type=parse_type(change.type or ""))
            if change.kind == "rename_column":  # the old name stays readable until `finish` (same commit)
                alias = ColumnAlias(migration.table, change.column or "", (change.new_name or "").lower(),
                                    migration.id, migration.deadline)
                transaction.set_properties({ALIASES_PROPERTY: with_alias(table.properties, alias)})
                migration.applied["alias"] = alias.old
    after = catalog.table(migration.table)
    migration.applied.update({"new_schema_id": after.schema().schema_id, "new_spec_id": after.spec().spec_id})
    _status(migration, "started")
    migration.started_at = migration.history[-1]["at"]
    save(project.state, migration)
    return migration


def rollback_migration(project: Project, migration_id: str) -> Migration:
    """Undo `start`: the schema and partition spec it recorded become current again; a new table is dropped."""
    from pyiceberg.table.update import AssertCurrentSchemaId, SetCurrentSchemaUpdate, SetDefaultSpecUpdate

    from towpath.migrations.record import load

    migration = load(project.state, migration_id)
    if migration.status not in ("started", "complete"):
        raise MigrationError(f"migration {migration.id} is {migration.status}; only a started one rolls back")
    applied, catalog = migration.applied, project.catalog
    if migration.new_table and catalog.exists(migration.new_table):
        catalog.iceberg.drop_table(catalog.physical(migration.new_table))
    else:
        table = catalog.table(migration.table, write=True)
        updates: tuple[Any, ...] = ()
        if table.schema().schema_id != applied["schema_id"]:
            updates += (SetCurrentSchemaUpdate(schema_id=applied["schema_id"]),)  # type: ignore[call-arg]
        if table.spec().spec_id != applied["spec_id"]:
            updates += (SetDefaultSpecUpdate(spec_id=applied["spec_id"]),)  # type: ignore[call-arg]
        updates += _alias_updates(table.properties, migration.id, finished=None)
        if updates:
            catalog.iceberg.commit_table(
                table, (AssertCurrentSchemaId(current_schema_id=table.schema().schema_id),), updates)  # type: ignore[call-arg]
    _status(migration, "rolled_back")
    save(project.state, migration)
    return migration


def finish_migration(project: Project, migration_id: str, *, force: bool = False) -> Migration:
    """Close a complete migration; a breaking one's old table is dropped (the new one replaces it)."""
    from towpath.migrations.progress import migration_status
    from towpath.migrations.record import load

    migration = load(project.state, migration_id)
    if migration.status not in ("started", "complete"):
        raise MigrationError(f"migration {migration.id} is {migration.status}; only a started one finishes")
    progress = migration_status(project, migration.id)
    if not progress.complete and not force:
        waiting = ", ".join(c.consumer for c in progress.consumers if not c.done)
        raise MigrationError(f"migration {migration.id} is not complete: waiting for {waiting} "
                             "(see `towpath migration status`; --force finishes anyway)")
    migration = load(project.state, migration_id)
    if migration.new_table and project.catalog.exists(migration.table):
        project.catalog.iceberg.drop_table(project.catalog.physical(migration.table))
        migration.applied["dropped"] = migration.table
    elif migration.applied.get("alias"):  # the old name is no longer readable; errors name the rename
        table = project.catalog.table(migration.table, write=True)
        updates = _alias_updates(table.properties, migration.id, finished=dt.datetime.now(dt.UTC).isoformat())
        if updates:
            project.catalog.iceberg.commit_table(table, (), updates)
    _status(migration, "finished")
    migration.finished_at = migration.history[-1]["at"]
    save(project.state, migration)
    return migration


def _new_table(project: Project, migration: Migration, table: Table) -> None:
    """Create `<table>_v2` with the changed schema and backfill it from the old table (Arrow, one commit)."""
    import pyarrow as pa
    from pyiceberg.schema import Schema

    from towpath.types import arrow_type, parse_type

    change, catalog = migration.change, project.catalog
    if catalog.exists(migration.new_table or ""):
        raise MigrationError(f"{migration.new_table} exists already; drop it or roll this migration back first")
    fields = []
    for f in table.schema().fields:
        if change.kind == "drop_column" and f.name.lower() == change.column:
            continue
        if change.kind == "change_type" and f.name.lower() == change.column:
            f = f.model_copy(update={"field_type": parse_type(change.type or "")})
        fields.append(f)
    spec = table.spec()
    kept = {f.field_id for f in fields}
    partition = spec if all(p.source_id in kept for p in spec.fields) else None
    from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC

    catalog.ensure_namespace(catalog.physical(migration.new_table or "").rpartition(".")[0])
    catalog.iceberg.create_table(catalog.physical(migration.new_table or ""), schema=Schema(*fields),
                                 partition_spec=partition or UNPARTITIONED_PARTITION_SPEC)
    data = catalog.read(migration.table)
    if change.kind == "drop_column":
        data = data.drop_columns([n for n in data.column_names if n.lower() == change.column])
    elif change.kind == "change_type":
        name = next(n for n in data.column_names if n.lower() == change.column)
        index = data.column_names.index(name)
        target = arrow_type(parse_type(change.type or ""))
        try:
            data = data.set_column(index, name, data.column(name).cast(target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            catalog.iceberg.drop_table(catalog.physical(migration.new_table or ""))
            raise MigrationError(f"cannot backfill {migration.new_table}: {name} does not convert to "
                                 f"{change.type}: {exc}") from None
    if data.num_rows:
        migration.applied["new_snapshot_id"] = catalog.write(migration.new_table or "", data, "append")
    migration.applied["backfilled_rows"] = data.num_rows


def _alias_updates(properties: dict[str, str], migration_id: str, *, finished: str | None) -> tuple[Any, ...]:
    """The property updates that end `migration_id`'s column aliases: removed (rollback) or marked finished."""
    from pyiceberg.table.update import RemovePropertiesUpdate, SetPropertiesUpdate

    if ALIASES_PROPERTY not in properties:
        return ()
    value = without_aliases(properties, migration_id, finished=finished)
    if value == properties[ALIASES_PROPERTY]:
        return ()
    if value is None:
        return (RemovePropertiesUpdate(removals=[ALIASES_PROPERTY]),)
    return (SetPropertiesUpdate(updates={ALIASES_PROPERTY: value}),)


def _transform(name: str, n: int | None) -> Any:
    from pyiceberg import transforms

    return {
        "identity": transforms.IdentityTransform(), "year": transforms.YearTransform(),
        "month": transforms.MonthTransform(), "day": transforms.DayTransform(), "hour": transforms.HourTransform(),
    }.get(name) or (transforms.BucketTransform(n or 1) if name == "bucket" else transforms.TruncateTransform(n or 1))


def _split(spec: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in spec:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p for p in (*parts, current) if p.strip()]


def _status(migration: Migration, status: str) -> None:
    migration.status = status
    migration.history.append({"status": status, "at": dt.datetime.now(dt.UTC).isoformat()})
