"""A renamed column's old name stays readable while its rename migration runs (until `finish`), through
the one SQL analysis every read path shares: workflow SQL on DuckDB and Spark, `Project.query`, and
`project validate`; after `finish` the old name is an error that names the rename."""

from __future__ import annotations

import json
import logging

import pytest

from towpath.migrations import one_change, plan_migration, rollback_migration, start_migration
from towpath.migrations.apply import finish_migration
from towpath.sql import ALIASES_PROPERTY
from towpath.testing import validate_project

RENAME = one_change(add=None, drop=None, rename=("amount", "order_amount"), retype=None, repartition=None)


@pytest.fixture
def renamed(chained):
    """sales.orders.amount renamed to order_amount (started, deadline 2030-01-31); no consumer changed yet."""
    migration = plan_migration(chained, "sales.orders", RENAME, deadline="2030-01-31")
    start_migration(chained, migration.id)
    return chained, migration.id


def test_start_records_the_alias_in_the_same_commit_as_the_rename(renamed):
    project, migration_id = renamed
    table = project.catalog.table("sales.orders")

    assert [f.name for f in table.schema().fields] == ["order_id", "order_amount", "day"]
    assert json.loads(table.properties[ALIASES_PROPERTY]) == {
        "amount": {"new": "order_amount", "migration": migration_id, "deadline": "2030-01-31"}}


def test_downstream_workflows_still_using_the_old_name_run_and_read_the_right_values(renamed):
    project, migration_id = renamed

    totals = project.run("daily_totals/main.sch.yaml", date="2022-01-02")
    big = project.run("big_orders/main.sch.yaml", date="2022-01-02")

    assert totals.ok and big.ok, (totals.error, big.error)
    assert project.catalog.read("sales.daily_totals").to_pylist() == [
        {"day": project.catalog.read("sales.orders").column("day")[0].as_py(), "total": 360.0}]
    assert sorted(project.catalog.read("sales.big_orders").to_pylist(), key=lambda r: r["order_id"]) == [
        {"order_id": 2, "amount": 120.0}, {"order_id": 3, "amount": 180.0}]  # WHERE amount > 100, on the new column
    [warning] = big.warnings
    assert f"migration {migration_id}" in warning and "deadline 2030-01-31" in warning
    assert "'amount' of sales.orders was renamed to 'order_amount'" in warning
    # the preflight accepts the old name in queries during the grace period; only the table's own DDL,
    # which defines the column, must change before its next run
    assert {str(p.file.relative_to(project.root)) for p in validate_project(project)} == {"load_orders/ddl/create.sql"}


def test_project_query_reads_the_old_name_with_a_deprecation_warning(renamed, caplog):
    project, migration_id = renamed

    with caplog.at_level(logging.WARNING, logger="towpath.sql"):
        rows = project.query("SELECT o.order_id, amount FROM sales.orders AS o WHERE o.amount >= 120 ORDER BY amount")

    assert rows.column_names == ["order_id", "amount"]  # the output keeps the name the query used
    assert rows.to_pylist() == [{"order_id": 2, "amount": 120.0}, {"order_id": 3, "amount": 180.0}]
    assert [r.getMessage() for r in caplog.records if migration_id in r.getMessage()] != []


@pytest.mark.parametrize("engine_type", ["duckdb", "spark"])
def test_both_engines_read_the_old_name_in_joins_and_subqueries(renamed, engine_type, request):
    from towpath.config.project import EngineConfig, SparkConfig
    from towpath.engines import get_engine

    project, migration_id = renamed
    if engine_type == "spark":
        request.getfixturevalue("spark")
    config = EngineConfig(type="spark", spark=SparkConfig(master="local[2]")) if engine_type == "spark" else EngineConfig()
    engine = get_engine(config, project.catalog)
    try:
        [result] = engine.run_script(
            "SELECT t.day, s.amount, s.big FROM sales.daily_totals AS t "
            "JOIN (SELECT day, SUM(amount) AS amount, MAX(amount) > 150 AS big FROM sales.orders GROUP BY day) s "
            "ON t.day = s.day")
    finally:
        engine.close()

    assert result.result is not None
    assert [(r["amount"], r["big"]) for r in result.result.to_pylist()] == [(360.0, True)]
    assert len(result.warnings) == 1 and migration_id in result.warnings[0]


def test_a_name_of_another_source_is_not_rewritten(renamed):
    project, _ = renamed

    rows = project.query("SELECT t.total AS amount FROM sales.daily_totals AS t")  # an output alias, not a read

    assert rows.column_names == ["amount"] and rows.to_pylist() == [{"amount": 360.0}]


def test_after_finish_the_old_name_is_an_error_naming_the_rename(renamed):
    from towpath.errors import SpecError, SqlError

    project, migration_id = renamed

    finish_migration(project, migration_id, force=True)

    assert "order_amount" in project.catalog.table("sales.orders").properties[ALIASES_PROPERTY]  # kept, as finished
    result = None
    with pytest.raises(SpecError) as caught:
        result = project.run("big_orders/main.sch.yaml", date="2022-01-03")
    assert result is None
    message = str(caught.value)
    assert "unknown column 'amount'" in message and "big_orders/load.sql:2" in message
    assert f"renamed to 'order_amount' by migration {migration_id}" in message
    problems = [str(p) for p in validate_project(project)]
    assert any("daily_totals/load.sql:2" in p and "renamed to 'order_amount'" in p for p in problems), problems
    with pytest.raises(SqlError, match=f"unknown column 'amount' of sales.orders: it was renamed to 'order_amount' "
                                       f"by migration {migration_id}"):
        project.query("SELECT amount FROM sales.orders")
    assert project.query("SELECT SUM(order_amount) AS s FROM sales.orders").to_pylist() == [{"s": 360.0}]


def test_rollback_removes_the_alias(renamed):
    project, migration_id = renamed

    rollback_migration(project, migration_id)

    table = project.catalog.table("sales.orders")
    assert ALIASES_PROPERTY not in table.properties
    assert [f.name for f in table.schema().fields] == ["order_id", "amount", "day"]
    assert project.query("SELECT SUM(amount) AS s FROM sales.orders").to_pylist() == [{"s": 360.0}]


def test_a_standalone_move_file_is_a_consumer_tracked_by_its_code(chained, edit):
    from towpath.migrations import migration_status

    project = chained
    move = project.root / "exports" / "orders.move.yaml"
    move.parent.mkdir()
    move.write_text("data_movement:\n  source: {table: sales.orders}\n  key_columns: [order_id]\n"
                    "  value_columns: [amount]\nkey_value_dal: {namespace: orders}\n")

    migration = plan_migration(project, "sales.orders", RENAME)

    [consumer] = [c for c in migration.consumers if c.workflow == "exports/orders.move.yaml"]
    assert consumer.impact == "breaking" and [r.at for r in consumer.references] == [f"{move}:4"]
    start_migration(project, migration.id)
    edit(move, "[amount]", "[order_amount]")
    by = {c.consumer: c for c in migration_status(project, migration.id).consumers}
    assert by[consumer.key].done and by[consumer.key].ran_at == "untracked"
