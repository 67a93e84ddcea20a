"""Runs in an environment write only the environment's copies; production's tables and marks never change."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from deploy_case import RESULTS, SOURCE, production_state, rows_by_date

from towpath.catalog import apply_ddl, expire_snapshots, get_hwm, set_hwm, set_metadata
from towpath.environment import EnvError, environment_name, resolve_env
from towpath.project import Project


def test_names_are_sanitised_and_main_is_production(monkeypatch: pytest.MonkeyPatch) -> None:
    assert environment_name("feature/Orders-v2") == "feature_orders_v2"
    assert environment_name("main") is None and environment_name("master") is None
    with pytest.raises(EnvError, match="not an environment name"):
        environment_name("///")
    monkeypatch.setenv("TOWPATH_ENV", "Feature/X")
    assert resolve_env() == "feature_x"
    assert resolve_env("other") == "other"  # --env wins over the variable
    assert resolve_env("main") is None
    monkeypatch.delenv("TOWPATH_ENV")
    assert resolve_env() is None


def test_a_run_in_an_environment_changes_nothing_in_production(prod: Project) -> None:
    before = production_state(prod)
    env = Project(prod.root, env="feature/x")
    result = env.run(prod.root / "wf" / "main.sch.yaml", date="2022-01-02")
    assert result.status == "success", result.error

    assert production_state(prod) == before  # not one commit: snapshots, properties and marks as they were
    assert rows_by_date(prod) == {"2022-01-01": rows_by_date(prod)["2022-01-01"]}
    assert set(rows_by_date(env)) == {"2022-01-01", "2022-01-02"}  # production's day read through the copy
    assert get_hwm(prod.catalog, RESULTS) == dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
    assert get_hwm(env.catalog, RESULTS) == dt.datetime(2022, 1, 2, tzinfo=dt.UTC)
    physical = set(prod.catalog.list_physical_tables())
    assert {"sample_root__feature_x.dataflow_sql_sample_results", "sample_root__feature_x.dataflow_sql_sample_source"} <= physical
    assert prod.catalog.list_tables() == [RESULTS, SOURCE]  # production lists no copy
    # each side sees only its own runs
    assert [r.execution_date for r in prod.state.list_runs()] == ["2022-01-01"]
    assert [r.execution_date for r in env.state.list_runs()] == ["2022-01-02"]


def test_a_backfill_in_an_environment_runs_the_dates_production_already_ran(prod: Project) -> None:
    before = production_state(prod)
    env = Project(prod.root, env="feature_x")
    result = env.backfill(prod.root / "wf" / "backfill.sch.yaml", start="2022-01-01", end="2022-01-03", parallel=2)
    assert result.status == "success", result
    assert sorted(r.execution_date for r in result.runs) == ["2022-01-01", "2022-01-02", "2022-01-03"]
    assert production_state(prod) == before
    assert get_hwm(env.catalog, RESULTS) == dt.datetime(2022, 1, 3, tzinfo=dt.UTC)


def test_every_write_path_touches_only_the_copy(prod: Project) -> None:
    before = production_state(prod)
    env = Project(prod.root, env="feature_x")
    set_hwm(env.catalog, RESULTS, "2030-01-01")
    set_metadata(env.catalog, RESULTS, owner="someone-else", tags=["env"])
    apply_ddl(env.catalog, "CREATE TABLE IF NOT EXISTS sample_root.dataflow_sql_sample_results (title_id INT, "
              "country_code STRING, title_rank INT, view_hours DOUBLE, extra STRING) PARTITIONED BY (date DATE) "
              "STORED AS ICEBERG", allow_evolution=True)
    env.catalog.write(SOURCE, prod.catalog.read(SOURCE).slice(0, 5), "append")
    expire_snapshots(env.catalog, SOURCE, older_than=dt.timedelta(0), retain_last=1)
    env.gc(SOURCE, older_than="1h")
    env.compact(RESULTS)
    assert production_state(prod) == before
    copy = env.catalog.table(RESULTS)
    assert copy.properties["towpath.owner"] == "someone-else" and "extra" in copy.schema().column_names
    assert "extra" not in prod.catalog.table(RESULTS).schema().column_names


def test_a_forgotten_write_path_fails_instead_of_changing_production(prod: Project) -> None:
    before = production_state(prod)
    env = Project(prod.root, env="feature_x")
    read_only = env.catalog.table(RESULTS)  # not written by the environment yet: production's table
    with pytest.raises(EnvError, match="tried to change it"), read_only.transaction() as tx:
        tx.set_properties({"x": "y"})
    with pytest.raises(EnvError, match="has no copy"):
        env.catalog.drop_table(RESULTS)
    assert production_state(prod) == before


def test_a_table_created_in_an_environment_exists_only_there(prod: Project) -> None:
    env = Project(prod.root, env="feature_x")
    apply_ddl(env.catalog, "CREATE TABLE sample_root.brand_new (id INT) STORED AS ICEBERG")
    env.catalog.write("sample_root.brand_new", pa.table({"id": [1, 2]}))
    assert env.catalog.exists("sample_root.brand_new")
    assert not prod.catalog.exists("sample_root.brand_new")
    assert "sample_root.brand_new" in env.catalog.list_tables()
    env.engine.run_script("DROP TABLE sample_root.brand_new")
    assert not env.catalog.exists("sample_root.brand_new")
    with pytest.raises(EnvError, match="never dropped from an environment"):
        env.engine.run_script(f"DROP TABLE {RESULTS}")  # production's, not the environment's
    assert prod.catalog.exists(RESULTS)


def test_the_scheduler_of_an_environment_fires_there_beside_production_s(prod: Project) -> None:
    from towpath.workflows import SchedulerOptions, SchedulerService

    before = production_state(prod)
    held = prod.state.leases.acquire("scheduler", ttl_s=600)  # production's scheduler is running
    try:
        env = Project(prod.root, env="feature_x")
        clock = dt.datetime(2022, 1, 3, 7, 0, tzinfo=dt.UTC)  # the daily's 06:00 tick has passed
        service = SchedulerService(env, lambda: Project(prod.root, env="feature_x"), SchedulerOptions(),
                                   clock=lambda: clock)
        [outcome] = service.run(once=True)
        assert outcome.ok, outcome
    finally:
        prod.state.leases.release(held)
    assert production_state(prod) == before
    assert "2022-01-03" in rows_by_date(env)
    assert [r.kind for r in env.state.list_runs(kind="daily")] == ["daily"]
    assert prod.state.list_runs(kind="daily") == []
