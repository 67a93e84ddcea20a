"""Continuous testing of the recipes: each runnable recipe is generated into a temp folder and run
end to end with no edits (main for one date, a 3-day backfill, its own unit tests), as the seed's
samples are "tested continuously as part of the code change protocol"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from samples_data import DATE, USER, run_generated_tests, towpath_cli

from towpath.catalog import get_hwm, get_metadata
from towpath.project import Project
from towpath.samples import RECIPES, sample_workflow

DUCKDB_RECIPES = [name for name, r in RECIPES.items() if r.runnable and r.engine == "duckdb"]
BACKFILL_ROWS = "80000"
"""Sessions per day for the backfill's extra days: still >= 400 per country, so still a full top 100."""


@dataclass
class RanSample:
    recipe: str
    folder: Path
    project: Project
    target: str
    source: str
    result: object
    cli_output: str = ""


def result_rows(project: Project, table: str, date: str = DATE) -> pa.Table:
    rows = project.query(f"SELECT title_id, country_code, title_rank, view_hours, date FROM {table} WHERE date = DATE '{date}'")
    return rows.sort_by([("country_code", "ascending"), ("title_rank", "ascending"), ("title_id", "ascending")])


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RanSample]]:
    """Every DuckDB recipe generated and its main workflow run once for DATE, with default data sizes.

    spark-sql runs through the real CLI from inside the generated folder, exactly as the info
    panel says; the others through `Project.run`.
    """
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("TOWPATH_USER", USER)
    samples: dict[str, RanSample] = {}
    try:
        for recipe in DUCKDB_RECIPES:
            folder = tmp_path_factory.mktemp(recipe) / "wf"
            generated = sample_workflow(recipe, folder)
            project = Project(folder)
            output = ""
            if recipe == "spark-sql":
                out = towpath_cli("workflow", "run", "main.sch.yaml", "-p", f"DATE={DATE}", "--json", cwd=folder)
                assert out.returncode == 0, out.stderr
                output = out.stdout
                result = project.state.list_runs()[0]
            else:
                result = project.run(folder / "main.sch.yaml", date=DATE)
                assert result.ok, result.error
            samples[recipe] = RanSample(
                recipe, folder, project, generated.tables["target"], generated.tables["source"], result, output
            )
        yield samples
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize("recipe", DUCKDB_RECIPES)
def test_the_first_run_fills_the_source_and_loads_the_top_100_of_every_country(ran, recipe):
    sample = ran[recipe]
    sessions = sample.project.query(f"SELECT COUNT(*) AS n FROM {sample.source} WHERE date = DATE '{DATE}'")
    assert sessions.column("n")[0].as_py() >= 190 * 400  # the default ~200,000 synthetic sessions
    rows = result_rows(sample.project, sample.target)
    assert 19_000 <= rows.num_rows <= 19_200  # 190 countries x top 100 (ties at rank 100 add a few)
    per_country = sample.project.query(
        f"SELECT country_code, COUNT(*) AS n, MIN(title_rank) AS lo, MAX(title_rank) AS hi FROM {sample.target} "
        f"WHERE date = DATE '{DATE}' GROUP BY country_code"
    )
    assert per_country.num_rows == 190
    assert min(per_country.column("n").to_pylist()) >= 100 and set(per_country.column("lo").to_pylist()) == {1}
    assert max(per_country.column("hi").to_pylist()) <= 100


@pytest.mark.parametrize("recipe", DUCKDB_RECIPES)
def test_the_run_records_metadata_the_high_water_mark_and_the_audits(ran, recipe):
    sample = ran[recipe]
    meta = get_metadata(sample.project.catalog, sample.target)
    assert meta.owner == USER and meta.tags == ["dataflow", "sample"] and meta.lifetime_days == 123
    assert meta.column_types == {"date": "pk", "country_code": "pk", "title_rank": "pk"}
    assert get_hwm(sample.project.catalog, sample.target).date().isoformat() == DATE
    run = sample.project.state.list_runs(workflow_id=RECIPES.get(recipe).default_shortname, kind="main")[-1]
    detail = sample.project.state.get_run(run.run_id)
    assert [j.job_id for j in detail.jobs] == ["source", "ddl", "metadata", "wap", "wap.write", "hwm"]
    audits = {(a.result.name, a.result.blocking, a.result.passed) for a in detail.audits}
    assert audits == {
        ("table_should_not_be_empty", True, True),
        ("columns_should_not_have_nulls", True, True),
        ("columns_should_be_unique", True, True),
        ("row_count_change_within", False, True),
    }


def test_a_rerun_reuses_the_source_day_and_is_byte_for_byte_identical(ran):
    sample = ran["sql"]
    before = result_rows(sample.project, sample.target)
    sessions = sample.project.catalog.snapshot_id(sample.source)
    assert sample.project.run(sample.folder / "main.sch.yaml", date=DATE).ok
    assert sample.project.catalog.snapshot_id(sample.source) == sessions  # the day was there: not regenerated
    assert result_rows(sample.project, sample.target).equals(before)


def test_every_recipe_computes_exactly_the_same_table(ran):
    tables = {recipe: result_rows(s.project, s.target) for recipe, s in ran.items()}
    reference = tables["spark-sql"]
    for recipe, table in tables.items():
        assert table.equals(reference), f"{recipe} differs from spark-sql"


def test_the_cli_run_reports_the_19k_rows_it_published(ran):
    import json

    report = json.loads(ran["spark-sql"].cli_output)
    wap = next(j for j in report["jobs"] if j["job_id"] == "wap")
    assert report["status"] == "success" and 19_000 <= wap["rows_written"] <= 19_200


@pytest.mark.parametrize("recipe", DUCKDB_RECIPES)
def test_a_three_day_backfill_fills_three_dates(ran, recipe):
    sample = ran[recipe]
    result = sample.project.backfill(
        sample.folder / "backfill.sch.yaml", start="2021-12-31", end="2022-01-02",
        params={"SOURCE_ROWS_PER_DAY": BACKFILL_ROWS},
    )
    assert result.status == "success" and not result.failed, result.failed
    assert sorted(result.succeeded) == ["2021-12-31", "2022-01-02"] and result.skipped == ["2022-01-01"]
    dates = sample.project.query(f"SELECT date, COUNT(*) AS n FROM {sample.target} GROUP BY date ORDER BY date")
    assert [d.isoformat() for d in dates.column("date").to_pylist()] == ["2021-12-31", "2022-01-01", "2022-01-02"]
    assert all(19_000 <= n <= 19_200 for n in dates.column("n").to_pylist())


@pytest.mark.parametrize("recipe", DUCKDB_RECIPES)
def test_the_generated_unit_tests_pass(ran, recipe):
    out = run_generated_tests(ran[recipe].folder)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout


def test_the_generated_unit_test_fails_with_a_diff_when_the_logic_breaks(tmp_path):
    folder = sample_workflow("spark-sql", tmp_path / "wf").target
    script = folder / "src" / "sparksql_write.sql"
    script.write_text(script.read_text().replace("RANK()", "ROW_NUMBER()"))  # ties no longer share a rank
    out = run_generated_tests(folder)
    assert out.returncode == 1 and "2 failed" in out.stdout  # both mock days have a tie
    assert "1 missing (expected but not in actual)" in out.stdout and "title_rank: 2" in out.stdout


def test_two_samples_with_different_shortnames_in_one_project_never_share_a_table(tmp_path):
    project = Project.init(tmp_path / "proj")
    first = sample_workflow("spark-sql", project.root / "a", shortname="alpha")
    second = sample_workflow("spark-sql", project.root / "b", shortname="beta")
    for sample in (first, second):
        result = project.run(sample.target / "main.sch.yaml", date=DATE, params={"SOURCE_ROWS_PER_DAY": BACKFILL_ROWS})
        assert result.ok, result.error
    tables = {first.tables["target"], first.tables["source"], second.tables["target"], second.tables["source"]}
    assert len(tables) == 4 and tables <= set(project.catalog.list_tables())
    for sample in (first, second):
        assert 19_000 <= result_rows(project, sample.tables["target"]).num_rows <= 19_200
    other = sample_workflow("spark-sql", project.root / "c", shortname="alpha", user="someone_else")
    assert not set(other.tables.values()) & tables


def test_a_parallel_backfill_as_the_first_run_creates_the_source_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TOWPATH_USER", USER)
    sample = sample_workflow("sql", tmp_path / "wf")
    project = Project(sample.target)
    result = project.backfill(
        sample.target / "backfill.sch.yaml", start="2022-01-01", end="2022-01-03", parallel=3,
        params={"SOURCE_ROWS_PER_DAY": BACKFILL_ROWS},
    )
    assert result.status == "success" and sorted(result.succeeded) == ["2022-01-01", "2022-01-02", "2022-01-03"]
    days = project.query(f"SELECT COUNT(DISTINCT date) AS n FROM {sample.tables['source']}")
    assert days.column("n")[0].as_py() == 3


@pytest.mark.parametrize("recipe", DUCKDB_RECIPES)
def test_project_validate_finds_nothing_wrong_in_a_run_sample(ran, recipe):
    out = towpath_cli("project", "validate", cwd=ran[recipe].folder)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout
