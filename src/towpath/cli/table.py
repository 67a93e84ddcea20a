"""`towpath table ...`: inspect Iceberg tables (schema, metadata, history, high-water marks)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import output, project_from


@click.group("table")
def cli() -> None:
    """Inspect Iceberg tables: schema, metadata, history, rollback, high-water marks."""


@cli.command("list")
@output(render.tables)
@click.pass_context
def list_(ctx: click.Context) -> list[dict[str, Any]]:
    """List every table with its row count, head snapshot and high-water mark."""
    from towpath.catalog import describe

    catalog = project_from(ctx).catalog
    return [_summary(describe(catalog, name)) for name in catalog.list_tables()]


@cli.command()
@click.argument("table")
@click.option("--older-than", help="Age of snapshots to forget: 7d, 12h, 30m (default: the project's "
              "snapshot_retention.max_age).")
@click.option("--retain-last", type=click.IntRange(min=1),
              help="Recent snapshots of main to keep whatever their age (default: snapshot_retention.retain_last).")
@output(render.expired)
@click.pass_context
def expire(ctx: click.Context, table: str, older_than: str | None, retain_last: int | None) -> dict[str, Any]:
    """Forget TABLE's old snapshots (branch and tag heads are always kept), so commits stay fast.

    Expired snapshots can no longer be read or rolled back to.
    """
    expired = project_from(ctx).expire_snapshots(table, older_than=older_than, retain_last=retain_last)
    return {"table": table, "expired": expired}


@cli.command()
@click.argument("table")
@output(render.table_detail)
@click.pass_context
def show(ctx: click.Context, table: str) -> Any:
    """Show TABLE: columns with comments and kinds, partitioning, metadata, snapshot, branches, mark."""
    from towpath.catalog import describe

    return describe(project_from(ctx).catalog, table)


@cli.command()
@click.argument("table")
@click.option("-n", "--limit", default=20, show_default=True, help="Newest snapshots to show.")
@output(render.history)
@click.pass_context
def history(ctx: click.Context, table: str, limit: int) -> Any:
    """List TABLE's snapshots, newest first (branch-only snapshots included)."""
    from towpath.catalog import history as snapshot_history

    return snapshot_history(project_from(ctx).catalog, table)[:limit]


@cli.command()
@click.argument("table")
@click.option("--to", "snapshot_id", required=True, type=int, help="Snapshot id in main's history.")
@output(render.rolled_back)
@click.pass_context
def rollback(ctx: click.Context, table: str, snapshot_id: int) -> Any:
    """Point TABLE's main back at an earlier snapshot (later snapshots are kept)."""
    from towpath.catalog import rollback as rollback_main

    return rollback_main(project_from(ctx).catalog, table, snapshot_id)


@cli.command()
@click.argument("table")
@click.option("--set", "value", help="New mark: a date (midnight in --timezone) or an ISO datetime.")
@click.option("--timezone", default=None, help="Time zone for --set (default: the project's timezone).")
@output(render.hwm)
@click.pass_context
def hwm(ctx: click.Context, table: str, value: str | None, timezone: str | None) -> dict[str, Any]:
    """Show TABLE's high-water mark, or set it with --set (moving it back is allowed, for restatements)."""
    from towpath.catalog import get_hwm, set_hwm

    project = project_from(ctx)
    mark: dt.datetime | None
    if value is not None:
        mark = set_hwm(project.catalog, table, value, timezone or project.config.timezone)
    else:
        mark = get_hwm(project.catalog, table)
    return {"table": table, "hwm": mark}


def _summary(desc: Any) -> dict[str, Any]:
    return {
        "table": desc.identifier,
        "rows": desc.row_count,
        "snapshot": desc.current_snapshot.snapshot_id if desc.current_snapshot else None,
        "owner": desc.metadata.owner,
        "hwm": desc.hwm.isoformat() if desc.hwm else None,
    }

