"""One execution of the seed's main workflow, end to end, and what it leaves behind."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from towpath.catalog.history import describe
from towpath.catalog.metadata import get_hwm, get_metadata

RESULTS = "foo.dataflow_sample_results"
ORDER = [(c, "ascending") for c in ("date", "country_code", "title_rank", "title_id")]


def expected_top100(project, date: str) -> pa.Table:
    """The seed's business logic computed independently, straight over the source rows."""
    source = project.catalog.read("some_db.source_table")  # noqa: F841 - read by DuckDB below
    return duckdb.sql(
        f"""
        SELECT title_id, country_code, title_rank, view_hours FROM (
          SELECT title_id, country_code, view_hours,
                 RANK() OVER (PARTITION BY country_code ORDER BY view_hours DESC) AS title_rank
          FROM (SELECT title_id, country_code, ROUND(SUM(view_hours), 3) AS view_hours FROM source
                WHERE date = DATE '{date}' AND title_id IS NOT NULL AND view_hours > 0
                GROUP BY ALL))
        WHERE title_rank <= 100
        """
    ).to_arrow_table()


def rows_of(table: pa.Table, date: str | None = None) -> list[tuple]:
    if date is not None:
        table = table.filter(pc.field("date") == dt.date.fromisoformat(date))
    cols = ["title_id", "country_code", "title_rank", "view_hours"]
    return sorted(zip(*(table.column(c).to_pylist() for c in cols)))


def test_seed_workflow_publishes_the_top_100_per_country(project, sample):
    result = project.run(sample, date="2022-01-02")

    assert result.status == "success", result.error
    assert [j.job_id for j in result.jobs] == ["ddl", "metadata", "wap", "hwm"]
    published = project.catalog.read(RESULTS)
    assert rows_of(published, "2022-01-02") == rows_of(expected_top100(project, "2022-01-02"))
    assert 18_900 <= published.num_rows <= 19_100  # 190 countries x 100, ties may share rank 100


def test_run_sets_metadata_hwm_and_records_everything(project, sample):
    result = project.run(sample, params={"DATE": "2022-01-01"})

    assert result.ok and result.execution_date == "2022-01-01"
    meta = get_metadata(project.catalog, RESULTS)
    assert meta.tags == ["dataflow", "sample"] and meta.lifetime_days == 123
    assert meta.column_types == {"date": "pk", "country_code": "pk", "title_rank": "pk"}
    assert get_hwm(project.catalog, RESULTS).date().isoformat() == "2022-01-01"
    info = describe(project.catalog, RESULTS)
    assert info.partition_spec == ["date (identity)"] and info.row_count == result.jobs[2].rows_written
    assert [c.doc for c in info.columns][:1] == ["Title ID of the movie or show."]

    detail = project.state.get_run(result.run_id)
    assert detail.run.status == "success" and detail.run.execution_date == "2022-01-01"
    assert {j.job_id: j.status for j in detail.jobs} == dict.fromkeys(
        ["ddl", "metadata", "wap", "wap.write", "hwm"], "success")
    wap = next(j for j in detail.jobs if j.job_id == "wap")
    write = next(j for j in detail.jobs if j.job_id == "wap.write")  # WAP write jobs are job runs of their own
    assert (write.parent_job, write.attempt, write.rows_written) == (wap.id, 1, wap.rows_written)
    assert {a.result.function for a in detail.audits} == {
        "columns_should_not_have_nulls", "columns_should_be_unique", "row_count_change_within", "table_should_not_be_empty"
    }
    assert all(a.result.passed and a.attempt == 1 for a in detail.audits)
    assert wap.snapshots[RESULTS] == project.catalog.snapshot_id(RESULTS)


def test_wap_branch_is_removed_after_publish(project, sample):
    from towpath.catalog.branches import list_branches

    project.run(sample, date="2022-01-01")

    assert list(list_branches(project.catalog, RESULTS)) == ["main"]


def test_rerun_of_a_date_replaces_only_that_partition_byte_for_byte(project, sample):
    project.run(sample, date="2022-01-01")
    project.run(sample, date="2022-01-02")
    first = project.catalog.read(RESULTS).sort_by(ORDER)

    again = project.run(sample, date="2022-01-02")

    assert again.ok
    second = project.catalog.read(RESULTS).sort_by(ORDER)
    assert second.equals(first)


def test_dry_run_prints_resolved_sql_and_runs_nothing(project, sample):
    plan = project.run(sample, date="2022-01-03", dry_run=True)

    write = next(s for s in plan.steps if s.step_id == "wap.write")
    assert "WHERE date = DATE '2022-01-03'" in write.sql and "FROM some_db.source_table" in write.sql
    assert plan.params["TARGET_TABLE"] == "dataflow_sample_results"
    assert not project.catalog.exists(RESULTS)
    assert project.state.list_runs() == []


def test_snapshot_retention_bounds_history_after_each_publish(project, sample):
    from towpath.catalog.history import history
    from towpath.project import Project

    (project.root / "towpath.yaml").write_text("name: test\nsnapshot_retention: {max_age: 0s, retain_last: 2}\n")
    bounded = Project(project.root)
    for date in ("2022-01-01", "2022-01-02", "2022-01-03"):
        assert bounded.run(sample, date=date).ok

    assert len(history(bounded.catalog, RESULTS)) == 2
    assert bounded.catalog.read(RESULTS).num_rows == sum(
        len(rows_of(expected_top100(bounded, d))) for d in ("2022-01-01", "2022-01-02", "2022-01-03")
    )


def test_a_bad_retention_setting_names_the_file_and_field(tmp_path):
    from towpath.errors import SpecError
    from towpath.project import Project

    (tmp_path / "towpath.yaml").write_text("name: x\nsnapshot_retention:\n  max_age: soon\n")

    with pytest.raises(SpecError, match=r"towpath.yaml:3:.*max_age.*duration"):
        Project(tmp_path)
