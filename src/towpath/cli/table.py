"""`towpath table ...`: inspect Iceberg tables (schema, metadata, history, high-water marks)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import json_option, project_from


@click.group("table")
def cli() -> None:
    """Inspect Iceberg tables: schema, metadata, history, rollback, high-water marks."""


@cli.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List every table with its row count, head snapshot and high-water mark."""
    from towpath.catalog import describe

    catalog = project_from(ctx).catalog
    tables = [describe(catalog, name) for name in catalog.list_tables()]
    if as_json:
        render.json_out([_summary(t) for t in tables])
    else:
        render.table([_summary(t) for t in tables], ["table", "rows", "snapshot", "owner", "hwm"], title="Tables")


@cli.command()
@click.argument("table")
@click.option("--older-than", default="7d", show_default=True, help="Age of snapshots to forget: 7d, 12h, 30m.")
@click.option("--retain-last", default=5, show_default=True, type=click.IntRange(min=1), help="Recent snapshots of main to keep whatever their age.")
@json_option
@click.pass_context
def expire(ctx: click.Context, table: str, older_than: str, retain_last: int, as_json: bool) -> None:
    """Forget TABLE's old snapshots (branch and tag heads are always kept), so commits stay fast.

    Expired snapshots can no longer be read or rolled back to.
    """
    from towpath.catalog import expire_snapshots
    from towpath.config.params import parse_duration

    expired = expire_snapshots(project_from(ctx).catalog, table, older_than=parse_duration(older_than), retain_last=retain_last)
    if as_json:
        render.json_out({"table": table, "expired": expired})
    else:
        render.success(f"{table}: expired {len(expired)} snapshot(s)")


@cli.command()
@click.argument("table")
@json_option
@click.pass_context
def show(ctx: click.Context, table: str, as_json: bool) -> None:
    """Show TABLE: columns with comments and kinds, partitioning, metadata, snapshot, branches, mark."""
    from towpath.catalog import describe

    desc = describe(project_from(ctx).catalog, table)
    if as_json:
        render.json_out(desc)
        return
    render.key_values(
        {
            "table": desc.identifier,
            "comment": desc.comment,
            "location": desc.location,
            "partitioned by": ", ".join(desc.partition_spec) or "(unpartitioned)",
            "owner": desc.metadata.owner,
            "tags": ", ".join(desc.metadata.tags),
            "lifetime": f"{desc.metadata.lifetime_days} days" if desc.metadata.lifetime_days else None,
            "rows": desc.row_count,
            "data files": desc.data_files,
            "snapshot": _snapshot_line(desc.current_snapshot),
            "branches": ", ".join(f"{name}={sid}" for name, sid in desc.branches.items()) or None,
            "high-water mark": desc.hwm.isoformat() if desc.hwm else None,
        },
        title=desc.identifier,
    )
    render.table(
        [
            {"column": c.name, "type": c.type, "required": "yes" if c.required else "", "kind": c.column_type,
             "comment": c.doc}
            for c in desc.columns
        ],
        ["column", "type", "required", "kind", "comment"],
        title="Schema",
    )


@cli.command()
@click.argument("table")
@click.option("-n", "--limit", default=20, show_default=True, help="Newest snapshots to show.")
@json_option
@click.pass_context
def history(ctx: click.Context, table: str, limit: int, as_json: bool) -> None:
    """List TABLE's snapshots, newest first (branch-only snapshots included)."""
    from towpath.catalog import history as snapshot_history

    snapshots = snapshot_history(project_from(ctx).catalog, table)[:limit]
    if as_json:
        render.json_out(snapshots)
        return
    render.table(
        [
            {"snapshot": s.snapshot_id, "parent": s.parent_id, "committed (UTC)": s.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
             "operation": s.operation, "rows": s.summary.get("total-records"), "refs": ", ".join(s.refs),
             "current": "*" if s.is_current else ""}
            for s in snapshots
        ],
        title=f"History of {table}",
    )


@cli.command()
@click.argument("table")
@click.option("--to", "snapshot_id", required=True, type=int, help="Snapshot id in main's history.")
@json_option
@click.pass_context
def rollback(ctx: click.Context, table: str, snapshot_id: int, as_json: bool) -> None:
    """Point TABLE's main back at an earlier snapshot (later snapshots are kept)."""
    from towpath.catalog import rollback as rollback_main

    snapshot = rollback_main(project_from(ctx).catalog, table, snapshot_id)
    if as_json:
        render.json_out(snapshot)
    else:
        render.success(f"{table}: main is now at snapshot {snapshot.snapshot_id}")


@cli.command()
@click.argument("table")
@click.option("--set", "value", help="New mark: a date (midnight in --timezone) or an ISO datetime.")
@click.option("--timezone", default=None, help="Time zone for --set (default: the project's timezone).")
@json_option
@click.pass_context
def hwm(ctx: click.Context, table: str, value: str | None, timezone: str | None, as_json: bool) -> None:
    """Show TABLE's high-water mark, or set it with --set (moving it back is allowed, for restatements)."""
    from towpath.catalog import get_hwm, set_hwm

    project = project_from(ctx)
    mark: dt.datetime | None
    if value is not None:
        mark = set_hwm(project.catalog, table, value, timezone or project.config.timezone)
    else:
        mark = get_hwm(project.catalog, table)
    if as_json:
        render.json_out({"table": table, "hwm": mark})
    elif value is not None:
        render.success(f"{table}: high-water mark set to {mark.isoformat() if mark else ''}")
    else:
        render.key_values({"table": table, "high-water mark": mark.isoformat() if mark else "(not set)"})


def _summary(desc: Any) -> dict[str, Any]:
    return {
        "table": desc.identifier,
        "rows": desc.row_count,
        "snapshot": desc.current_snapshot.snapshot_id if desc.current_snapshot else None,
        "owner": desc.metadata.owner,
        "hwm": desc.hwm.isoformat() if desc.hwm else None,
    }


def _snapshot_line(snapshot: Any) -> str | None:
    if snapshot is None:
        return None
    return f"{snapshot.snapshot_id} ({snapshot.operation}, {snapshot.timestamp:%Y-%m-%d %H:%M:%S} UTC)"
