"""`towpath table ...`: inspect and maintain Iceberg tables (schema, history, marks, WAP branches, orphan files)."""

from __future__ import annotations

from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import output, project_from
from towpath.errors import CatalogError


class MarkBackwardsError(CatalogError):
    """`table hwm --set` with an older date and no `--force`: nothing was changed."""


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
@click.option(
    "--hwm", "hwm", type=click.Choice(["restore", "keep"]), default="restore", show_default=True,
    help="restore: move the high-water mark back to the one recorded with that snapshot; keep: leave it.",
)
@output(render.rolled_back)
@click.pass_context
def rollback(ctx: click.Context, table: str, snapshot_id: int, hwm: str) -> Any:
    """Point TABLE's main back at an earlier snapshot (later snapshots are kept)."""
    return project_from(ctx).rollback(table, snapshot_id, hwm="keep" if hwm == "keep" else "restore")


@cli.command()
@click.argument("table")
@click.option("--set", "value", help="New mark: a date (midnight in --timezone) or an ISO datetime.")
@click.option("--force", is_flag=True, help="With --set: allow moving the mark back (a restatement).")
@click.option("--timezone", default=None, help="Time zone for --set (default: the project's timezone).")
@output(render.hwm)
@click.pass_context
def hwm(ctx: click.Context, table: str, value: str | None, force: bool, timezone: str | None) -> dict[str, Any]:
    """Show TABLE's high-water mark, or move it forward with --set (back only with --force)."""
    from towpath.catalog import get_hwm

    project = project_from(ctx)
    if value is None:
        return {"table": table, "hwm": get_hwm(project.catalog, table)}
    change = project.set_hwm(table, value, timezone=timezone, force=force)
    if change.kept_newer:
        raise MarkBackwardsError(
            f"{table}: high-water mark is {change.stored.isoformat()}, newer than {change.requested.isoformat()}; "
            "marks only move forward (consumers treat the mark as 'complete up to here'): add --force to move it back"
        )
    return {"table": table, "hwm": change.stored, "previous": change.previous}


@cli.command()
@click.argument("table")
@click.option("--drop", "drop", multiple=True, metavar="NAME", help="Drop this branch (repeatable).")
@click.option("--older-than", default=None, help="Drop WAP branches older than this: 7d, 12h.")
@output(render.wap_branches)
@click.pass_context
def branches(ctx: click.Context, table: str, drop: tuple[str, ...], older_than: str | None) -> dict[str, Any]:
    """List TABLE's WAP branches with their run, age and why they exist; --drop / --older-than remove them."""
    project = project_from(ctx)
    if drop or older_than:
        return {"table": table, "dropped": project.drop_branches(table, names=drop, older_than=older_than)}
    return {"table": table, "branches": project.branches(table)}


@cli.command()
@click.argument("table")
@click.option("--older-than", default="3d", show_default=True,
              help="Only files older than this (a younger one may belong to a write in progress).")
@click.option("--dry-run", is_flag=True, help="List the orphaned files, remove nothing.")
@output(render.gc_result)
@click.pass_context
def gc(ctx: click.Context, table: str, older_than: str, dry_run: bool) -> Any:
    """Remove TABLE's orphaned files: data and metadata files no snapshot references (left by killed runs, expiry)."""
    return project_from(ctx).gc(table, older_than=older_than, dry_run=dry_run)


@cli.command()
@click.argument("table")
@click.option("--partition", "partitions", multiple=True, metavar="PATH",
              help="Only this partition, as its path (date=2024-01-02; repeatable; default: every partition).")
@output(render.compacted)
@click.pass_context
def compact(ctx: click.Context, table: str, partitions: tuple[str, ...]) -> Any:
    """Rewrite TABLE's small data files into large ones, then expire old snapshots (snapshot_retention).

    Rows do not change, stream and CDC positions are kept. Example:

        towpath table compact lake.orders --partition event_time_day=2024-01-02
    """
    return project_from(ctx).compact(table, partitions=partitions or None)


def _summary(desc: Any) -> dict[str, Any]:
    return {
        "table": desc.identifier,
        "rows": desc.row_count,
        "snapshot": desc.current_snapshot.snapshot_id if desc.current_snapshot else None,
        "owner": desc.metadata.owner,
        "hwm": desc.hwm.isoformat() if desc.hwm else None,
    }

