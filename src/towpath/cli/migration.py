"""`towpath migration ...`: plan a table change, tell the owners of everything it affects, track it to done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import output, project_from


def _rel(place: str) -> str:
    from towpath.migrations.notices import relative

    return relative(place, Path.cwd().resolve())


def _plan(m: Any) -> None:
    render.console.print(f"[bold]{m['id']}[/bold]  {m['table']}: {_describe(m)}  (planned)")
    if m["consumers"]:
        render.table([{"consumer": f"{c['workflow']}.{c['job']}", "owner": c["owner"] or "-", "impact": c["impact"],
                       "references": "\n".join(_rel(f"{r['file']}:{r['line']}") for r in c["references"])
                       or c["via"] or "-"}
                      for c in m["consumers"]], title="Consumers")
    else:
        render.console.print("No workflow reads the table.")
    owners = ", ".join(f"{o} ({', '.join(a) or 'no address'})" for o, a in m["owners"].items())
    render.console.print(f"Owners: {owners or 'none'}")
    if m.get("backfill"):
        render.console.print(f"New table {m['new_table']}, backfilled by:\n{m['backfill']}")
    render.console.print(f"Next: towpath migration notify {m['id']}")


def _notified(results: Any) -> None:
    if not results:
        render.console.print("No owner to notify.")
        return
    render.table([{"owner": r["owner"], "notice": r["key"], "sent": "yes" if r["sent"] else "already",
                   "to": ", ".join(r["recipients"]) or "-",
                   "channels": ", ".join(f"{d['channel']} {'ok' if d['ok'] else 'FAILED'}" for d in r["deliveries"]) or "-"}
                  for r in results], title="Notices")


def _applied(m: Any) -> None:
    render.console.print(f"[bold]{m['id']}[/bold]  {m['table']}: {_describe(m)}  ({m['status']})")
    applied = dict(m.get("applied") or {})
    alias = applied.pop("alias", None)
    if applied:
        render.console.print(", ".join(f"{k} {v}" for k, v in applied.items()))
    if alias and m["status"] in ("started", "complete"):
        render.console.print(f"'{alias}' stays readable (as the new name, with a warning) until "
                             f"`towpath migration finish {m['id']}`")


def _status(s: Any) -> None:
    if isinstance(s, list):
        render.table(s or [{"id": "-", "table": "-", "change": "no migration yet", "status": "-", "deadline": "-"}],
                     title="Migrations")
        return
    done = sum(1 for c in s["consumers"] if c["done"])
    render.console.print(f"[bold]{s['id']}[/bold]  {s['table']}: {s['change']}  ({s['status']}, "
                         f"{done} of {len(s['consumers'])} consumers done)")
    render.table([{"consumer": c["consumer"], "owner": c["owner"] or "-", "impact": c["impact"],
                   "code": "updated" if c["code_updated"] else "\n".join(_rel(r) for r in c["remaining"]),
                   "ran after change": (c["ran_after_change"] or "not yet")[:16].replace("T", " ")}
                  for c in s["consumers"]],
                 title="Consumers")


def _describe(m: dict[str, Any]) -> str:
    from towpath.migrations import Change

    return Change.from_json(m["change"]).describe()


@click.group("migration")
def cli() -> None:
    """Plan a table change, notify the owners of its consumers, apply it, track it to done.

    \b
    Example (a rename, from plan to finish):
      towpath migration plan sales.orders --rename-column amount total_amount \\
          --reason "amount is ambiguous" --deadline 2027-01-31
      towpath migration notify m20261201-orders-rename-3f2a1c
      towpath migration start m20261201-orders-rename-3f2a1c
      towpath migration status m20261201-orders-rename-3f2a1c
      towpath migration finish m20261201-orders-rename-3f2a1c
    """


@cli.command()
@click.argument("table")
@click.option("--add-column", nargs=2, metavar="NAME TYPE", help="Add a column (Iceberg type: long, string, decimal(12,2), ...).")
@click.option("--drop-column", metavar="C", help="Drop a column (breaking: a new table plus a backfill).")
@click.option("--rename-column", nargs=2, metavar="A B", help="Rename column A to B.")
@click.option("--change-type", nargs=2, metavar="C T", help="Change C's type to T (a widening is additive).")
@click.option("--repartition", metavar="SPEC", help="Add partition fields: 'country_code', 'day(ts)', 'bucket(16, id)'.")
@click.option("--reason", help="Why: goes into every notice.")
@click.option("--deadline", metavar="DATE", help="ISO date by which consumers must have moved (reminders before it).")
@output(_plan)
@click.pass_context
def plan(ctx: click.Context, table: str, add_column: tuple[str, str] | None, drop_column: str | None,
         rename_column: tuple[str, str] | None, change_type: tuple[str, str] | None, repartition: str | None,
         reason: str | None, deadline: str | None) -> Any:
    """Classify a change of TABLE per consumer and record it as a migration (nothing changes yet)."""
    from towpath.migrations import one_change, plan_migration

    change = one_change(add=add_column or None, drop=drop_column, rename=rename_column or None,
                        retype=change_type or None, repartition=repartition)
    return plan_migration(project_from(ctx), table, change, reason=reason, deadline=deadline).to_json()


@cli.command()
@click.argument("migration_id")
@output(_notified)
@click.pass_context
def notify(ctx: click.Context, migration_id: str) -> Any:
    """Draft one notice per owner into the outbox and send it through the configured channels (never twice)."""
    from towpath.migrations import notify_migration

    return [r.to_json() for r in notify_migration(project_from(ctx), migration_id)]


@cli.command()
@click.argument("migration_id")
@output(_applied)
@click.pass_context
def start(ctx: click.Context, migration_id: str) -> Any:
    """Apply the change (schema evolution, or a new table plus backfill), recording what rollback needs."""
    from towpath.migrations import start_migration

    return start_migration(project_from(ctx), migration_id).to_json()


@cli.command()
@click.argument("migration_id", required=False)
@output(_status)
@click.pass_context
def status(ctx: click.Context, migration_id: str | None) -> Any:
    """Progress per consumer (code rescanned, a successful run after the change); all migrations without ID."""
    from towpath.migrations import migration_status, summaries

    project = project_from(ctx)
    if migration_id is None:
        return summaries(project.state)
    return migration_status(project, migration_id).to_json()


@cli.command()
@click.argument("migration_id")
@output(_applied)
@click.pass_context
def rollback(ctx: click.Context, migration_id: str) -> Any:
    """Undo `start`: the recorded schema and partition spec become current again; a new table is dropped."""
    from towpath.migrations import rollback_migration

    return rollback_migration(project_from(ctx), migration_id).to_json()


@cli.command()
@click.argument("migration_id")
@click.option("--force", is_flag=True, help="Finish even though some consumer is not done.")
@output(_applied)
@click.pass_context
def finish(ctx: click.Context, migration_id: str, force: bool) -> Any:
    """Close a complete migration (a breaking one's old table is dropped)."""
    from towpath.migrations import finish_migration

    return finish_migration(project_from(ctx), migration_id, force=force).to_json()
