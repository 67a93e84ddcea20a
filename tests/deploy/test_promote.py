"""deploy -> run in the environment -> promote: gated on audits, atomic, refusing a moved production."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deploy_case import RESULTS, SOURCE, commit_all, git, production_state, rows_by_date

from towpath.catalog import apply_ddl, get_hwm
from towpath.deploy import DeployError, deploy, drop, environments, promote
from towpath.errors import ConflictError, UnknownNameError
from towpath.project import Project

MAIN = Path("wf") / "main.sch.yaml"


def _feature(prod: Project, branch: str = "feature/x") -> Project:
    git(prod.root, "checkout", "-q", "-b", branch)
    result = deploy(prod)
    assert result.env == "feature_x" and result.deployment.commit_sha == git(prod.root, "rev-parse", "HEAD")
    return Project(prod.root, env=result.env)


def test_deploy_records_the_commit_workflows_schedules_and_tables(prod: Project) -> None:
    production = deploy(prod)
    assert production.env is None and production.deployment.env == "production"
    env = _feature(prod)
    recorded = env.state.deployments.latest("feature_x")
    assert recorded is not None and recorded.branch == "feature/x" and not recorded.dirty
    assert recorded.workflows == [f"dataflow_sql_sample ({MAIN})"]
    assert any(s.startswith("daily dataflow_sql_sample_daily") and "0 6 * * *" in s for s in recorded.schedules)
    assert RESULTS in recorded.tables


def test_promote_gives_production_the_environment_state_and_marks(prod: Project) -> None:
    env = _feature(prod)
    assert env.run(prod.root / MAIN, date="2022-01-02").status == "success"
    expected = rows_by_date(env)
    result = promote(prod, "feature_x")
    assert {p.table for p in result.tables} == {RESULTS, SOURCE}
    production = Project(prod.root, env="main")
    assert rows_by_date(production) == expected
    assert get_hwm(production.catalog, RESULTS) == dt.datetime(2022, 1, 2, tzinfo=dt.UTC)
    assert production.catalog.snapshot_id(RESULTS) == env.catalog.snapshot_id(RESULTS)
    assert "towpath.env.name" not in production.catalog.table(RESULTS).properties
    # production keeps its own history below the environment's snapshots
    ancestry = [s.snapshot_id for s in production.catalog.table(RESULTS).snapshots()]
    assert prod.catalog.snapshot_id(RESULTS) in ancestry
    # the environment lives on and can be promoted again after more work
    assert env.run(prod.root / MAIN, date="2022-01-03").status == "success"
    again = promote(prod, "feature_x")
    assert not any(p.moved for p in again.tables)
    assert set(rows_by_date(production)) == {"2022-01-01", "2022-01-02", "2022-01-03"}


def test_promote_refuses_without_a_clean_last_run(prod: Project) -> None:
    with pytest.raises(DeployError, match="never deployed"):
        git(prod.root, "checkout", "-q", "-b", "feature/x")
        env = Project(prod.root, env="feature_x")
        env.catalog.write(SOURCE, prod.catalog.read(SOURCE).slice(0, 1))  # a copy exists, no deployment
        promote(prod, "feature_x")
    deploy(prod)
    before = production_state(prod)
    with pytest.raises(DeployError, match="never ran in it"):
        promote(prod, "feature_x")
    assert env.run(prod.root / MAIN, date="2022-01-02").status == "success"
    # a failing blocking audit in the environment's last run blocks the promotion
    failing = env.run(prod.root / MAIN, date="2022-01-09", params={"SOURCE_ROWS_PER_DAY": "0"})
    assert failing.status == "audit_failed", failing.error
    with pytest.raises(DeployError, match="cannot be promoted"):
        promote(prod, "feature_x")
    assert production_state(prod) == before


def test_a_production_table_that_moved_is_refused_unless_forced(prod: Project) -> None:
    env = _feature(prod)
    assert env.run(prod.root / MAIN, date="2022-01-02").status == "success"
    moved = prod.run(prod.root / MAIN, date="2022-01-05")  # production publishes meanwhile
    assert moved.status == "success"
    before = production_state(prod)
    with pytest.raises(ConflictError, match="production moved since environment 'feature_x' branched") as info:
        promote(prod, "feature_x")
    assert RESULTS in str(info.value) and "--force" in str(info.value)
    assert production_state(prod) == before  # nothing promoted, not even the table that had not moved
    forced = promote(prod, "feature_x", force=True)
    assert any(p.moved for p in forced.tables)
    assert rows_by_date(Project(prod.root, env="main")) == rows_by_date(env)


def test_a_table_the_environment_created_is_created_by_the_promotion(prod: Project) -> None:
    env = _feature(prod)
    assert env.run(prod.root / MAIN, date="2022-01-02").status == "success"
    apply_ddl(env.catalog, "CREATE TABLE sample_root.brand_new (id INT) STORED AS ICEBERG")
    env.catalog.write("sample_root.brand_new", pa.table({"id": pa.array([1, 2], pa.int32())}))
    result = promote(prod, "feature_x")
    assert [p.created for p in result.tables if p.table == "sample_root.brand_new"] == [True]
    production = Project(prod.root, env="main")
    assert production.catalog.read("sample_root.brand_new").column("id").to_pylist() == [1, 2]
    drop(prod, "feature_x")  # the new production table's files were the environment's: they stay
    assert production.catalog.read("sample_root.brand_new").num_rows == 2
    assert rows_by_date(production) == rows_by_date(Project(prod.root, env="main"))


def test_list_shows_cost_and_drop_frees_only_the_environment(prod: Project) -> None:
    env = _feature(prod)
    assert env.run(prod.root / MAIN, date="2022-01-02").status == "success"
    before = production_state(prod)
    [listed] = environments(prod)
    assert listed.name == "feature_x" and listed.deployed is not None and listed.promoted is None
    assert listed.snapshots >= 2 and listed.files > 0 and listed.bytes > 0
    copy_root = Path(env.catalog.table(RESULTS).location().removeprefix("file://"))
    assert copy_root.exists()
    dropped = drop(prod, "feature_x")
    assert dropped.files == listed.files
    assert not copy_root.exists()
    assert production_state(prod) == before
    assert rows_by_date(prod) == {"2022-01-01": rows_by_date(prod)["2022-01-01"]}  # every production file still there
    assert environments(prod) == []
    with pytest.raises(UnknownNameError, match="Unknown environment 'feature_x'"):
        promote(prod, "feature_x")


def test_unknown_environment_names_the_closest(prod: Project) -> None:
    _feature(prod)
    with pytest.raises(UnknownNameError, match="Did you mean 'feature_x'"):
        promote(prod, "feature_y")
    with pytest.raises(DeployError, match="production itself"):
        promote(prod, "main")


def test_a_kill_between_two_tables_promotes_neither(prod: Project, tmp_path: Path) -> None:
    env = _feature(prod)
    assert env.run(prod.root / MAIN, date="2022-01-02").status == "success"
    before = production_state(prod)
    marker = tmp_path / "paused"
    script = textwrap.dedent(f"""
        from towpath.deploy import promote
        from towpath.project import Project
        promote(Project({str(prod.root)!r}, env="main"), "feature_x")
    """)
    environ = {**os.environ, "TOWPATH_DEBUG_PAUSE": "between-table-commits", "TOWPATH_DEBUG_PAUSE_FILE": str(marker),
               "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    child = subprocess.Popen([sys.executable, "-c", script], env=environ)
    try:
        for _ in range(600):
            if marker.exists() or child.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), "the promotion never reached the pause between two tables"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert production_state(prod) == before
    promote(prod, "feature_x")  # a rerun promotes both
    assert rows_by_date(Project(prod.root, env="main")) == rows_by_date(env)


def test_deploy_refuses_an_invalid_project_and_warns_on_a_dirty_tree(prod: Project) -> None:
    git(prod.root, "checkout", "-q", "-b", "feature/broken")
    sql = prod.root / "wf" / "src" / "sql_write.sql"
    sql.write_text(sql.read_text().replace("AND title_id IS NOT NULL", "AND no_such_column IS NOT NULL"))
    commit_all(prod.root, "broken")
    with pytest.raises(DeployError, match="problem"):
        deploy(prod)
    assert environments(prod) == []
    git(prod.root, "checkout", "-q", "main")
    (prod.root / "notes.txt").write_text("uncommitted")
    result = deploy(prod)
    assert result.deployment.dirty and "uncommitted changes" in result.warnings[0]
