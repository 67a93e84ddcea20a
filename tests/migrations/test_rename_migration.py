"""A rename driven from plan to finish, against real SMTP, webhook and file channels."""

from __future__ import annotations

import datetime as dt

import pytest

from towpath.migrations import (
    MigrationError,
    migration_status,
    notify_migration,
    one_change,
    plan_migration,
    rollback_migration,
    start_migration,
)
from towpath.migrations.apply import finish_migration

RENAME = one_change(add=None, drop=None, rename=("amount", "order_amount"), retype=None, repartition=None)


def test_a_rename_from_plan_to_finish(chained, smtp_server, webhook, edit, run_all):
    project = chained
    root = project.root

    migration = plan_migration(project, "sales.orders", RENAME, reason="'amount' is ambiguous", deadline="2030-01-31")

    consumers = {c.key: c for c in migration.consumers}
    assert {k: c.impact for k, c in consumers.items()} == {
        "load_orders.ddl": "breaking", "daily_totals.load": "breaking", "big_orders.load": "breaking",
        "load_orders.load": "additive"}  # it writes the table by position: no line names the column
    assert [r.at for r in consumers["big_orders.load"].references] == [
        f"{root}/big_orders/load.sql:2", f"{root}/big_orders/load.sql:4"]
    assert [(r.at, r.text) for r in consumers["daily_totals.load"].references] == [
        (f"{root}/daily_totals/load.sql:2", "SELECT day, SUM(amount) AS total")]
    assert [r.role for r in consumers["load_orders.ddl"].references] == ["ddl"]
    assert {c.owner for c in consumers.values()} == {"ops@example.com", "analytics", "bob@example.com"}
    assert migration.owners["analytics"] == ["ana@example.com", "al@example.com"]

    sent = notify_migration(project, migration.id)

    assert sorted(r.owner for r in sent if r.sent) == ["analytics", "bob@example.com", "ops@example.com"]
    mails = smtp_server.wait_for(3)
    to = {tuple(rcpts) for _, rcpts in smtp_server.envelopes}
    assert to == {("ana@example.com", "al@example.com"), ("bob@example.com",), ("ops@example.com",)}
    bob = next(m for m in mails if m["To"] == "bob@example.com").get_content().replace("\r\n", "\n")
    assert "rename column amount to order_amount" in bob and "'amount' is ambiguous" in bob
    assert "`big_orders/load.sql:4`: `WHERE amount > 100;`" in bob
    assert "-WHERE amount > 100;\n+WHERE order_amount > 100;" in bob  # the suggested patch
    assert len(webhook) == 3 and {h["status"] for h in webhook} == {"planned"}
    assert len(list((root / "notices").glob("*.md"))) == 3 and len(list((root / ".towpath/outbox").glob("*.md"))) == 3

    again = notify_migration(project, migration.id)  # never the same notice twice

    assert [r.sent for r in again] == [False, False, False] and len(smtp_server.messages) == 3

    started = start_migration(project, migration.id)

    assert started.status == "started"
    assert [f.name for f in project.catalog.table("sales.orders").schema().fields] == ["order_id", "order_amount", "day"]
    assert project.query("SELECT order_amount FROM sales.orders ORDER BY 1").column(0).to_pylist() == [
        60.0, 120.0, 180.0]  # data files written before the rename read under the new name (by field id)
    status = migration_status(project, migration.id)
    assert not status.complete
    assert {c.consumer: c.code_updated for c in status.consumers} == {
        "load_orders.ddl": False, "daily_totals.load": False, "big_orders.load": False, "load_orders.load": True}
    assert len([r for r in notify_migration(project, migration.id) if r.sent]) == 3  # a status change: new notices
    assert {h["status"] for h in webhook[3:]} == {"started"}

    # the owners apply their patches, one after the other
    edit(root / "daily_totals/load.sql", "SUM(amount)", "SUM(order_amount)")
    status = migration_status(project, migration.id)
    by = {c.consumer: c for c in status.consumers}
    assert by["daily_totals.load"].code_updated and by["daily_totals.load"].ran_at is None
    assert [r.line for r in by["big_orders.load"].remaining] == [2, 4]
    edit(root / "big_orders/load.sql", "SELECT order_id, amount", "SELECT order_id, order_amount AS amount")
    edit(root / "big_orders/load.sql", "WHERE amount", "WHERE order_amount")
    edit(root / "load_orders/ddl/create.sql", "amount DOUBLE", "order_amount DOUBLE")
    with pytest.raises(MigrationError, match="not complete: waiting for"):
        finish_migration(project, migration.id)
    run_all(project, "2022-01-02")

    status = migration_status(project, migration.id)

    assert status.complete, status.to_json()
    assert project.catalog.read("sales.big_orders").num_rows == 4  # 2 big orders on each of the 2 days
    finished = finish_migration(project, migration.id)
    assert finished.status == "finished"
    assert [h["status"] for h in finished.history] == ["planned", "notified", "started", "complete", "finished"]


def test_rollback_restores_the_schema(chained, run_all):
    project = chained
    migration = plan_migration(project, "sales.orders", RENAME)
    start_migration(project, migration.id)

    rolled = rollback_migration(project, migration.id)

    assert rolled.status == "rolled_back"
    assert [f.name for f in project.catalog.table("sales.orders").schema().fields] == ["order_id", "amount", "day"]
    run_all(project, "2022-01-03")  # the unchanged code runs again
    with pytest.raises(MigrationError, match="rolled_back; only a planned or notified one starts"):
        start_migration(project, migration.id)


def test_a_drop_is_a_new_table_with_a_backfill(chained):
    project = chained
    drop = one_change(add=None, drop="amount", rename=None, retype=None, repartition=None)

    migration = plan_migration(project, "sales.orders", drop)

    assert migration.new_table == "sales.orders_v2" and migration.breaking
    assert "INSERT INTO sales.orders_v2" in (migration.backfill or "") and "amount" not in (migration.backfill or "")
    start_migration(project, migration.id)
    assert project.catalog.read("sales.orders_v2").column_names == ["order_id", "day"]
    assert project.catalog.read("sales.orders_v2").num_rows == 3
    rollback_migration(project, migration.id)
    assert not project.catalog.exists("sales.orders_v2") and project.catalog.exists("sales.orders")


def test_reminders_go_out_once_a_day_before_the_deadline(chained, smtp_server):
    project = chained
    today = dt.date(2030, 1, 29)
    migration = plan_migration(project, "sales.orders", RENAME, deadline="2030-01-31")

    first = notify_migration(project, migration.id, today=today)
    again = notify_migration(project, migration.id, today=today)
    next_day = notify_migration(project, migration.id, today=today + dt.timedelta(days=1))

    assert len([r for r in first if r.sent]) == 6  # the notice and a reminder per owner
    assert [r.sent for r in again] == [False] * 6
    assert sorted(r.key.rsplit(".", 1)[-1] for r in next_day if r.sent) == ["reminder-2030-01-30"] * 3


@pytest.mark.parametrize(("table", "change", "message"), [
    ("sales.nope", RENAME, "sales.nope"),
    ("sales.orders", one_change(add=None, drop="amout", rename=None, retype=None, repartition=None),
     "did you mean 'amount'"),
    ("sales.orders", one_change(add=("day", "date"), drop=None, rename=None, retype=None, repartition=None),
     "already has a column 'day'"),
    ("sales.orders", one_change(add=("note", "strng"), drop=None, rename=None, retype=None, repartition=None),
     "type 'strng'"),
])
def test_a_bad_plan_is_refused_and_records_nothing(chained, table, change, message):
    from towpath.errors import TowpathError

    with pytest.raises(TowpathError, match=message):
        plan_migration(chained, table, change)
    assert chained.state.migrations.applied() == []
