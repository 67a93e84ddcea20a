"""Failure paths: failing audits, bad YAML, bad SQL, undefined parameters, mid-workflow failures."""

from __future__ import annotations

import pytest

from towpath.catalog.branches import list_branches
from towpath.errors import ParameterError, SpecError

RESULTS = "foo.dataflow_sample_results"


def with_audit(sample, audit_yaml: str):
    """The sample's main workflow with one more audit in its WAP template."""
    text = sample.read_text().replace("      audits:\n", "      audits:\n" + audit_yaml, 1)
    sample.write_text(text)
    return sample


def test_failing_blocking_audit_publishes_nothing_and_keeps_the_branch(project, sample):
    project.run(sample, date="2022-01-01")
    before = project.catalog.snapshot_id(RESULTS)
    with_audit(sample, """\
        - function: values_between
          blocking: true
          params: {table: foo.dataflow_sample_results, column: title_rank, min: 1, max: 10}
""")

    result = project.run(sample, date="2022-01-02")

    assert result.status == "audit_failed"
    assert result.failed_audits == ["values_between"]
    assert project.catalog.snapshot_id(RESULTS) == before
    branches = [b for b in list_branches(project.catalog, RESULTS) if b != "main"]
    assert len(branches) == 1 and branches[0] in result.error
    assert "values_between" in result.error and "title_rank" in result.error
    assert [j.status for j in result.jobs] == ["success", "success", "audit_failed", "skipped"]
    stored = project.state.get_run(result.run_id)
    assert stored.run.status == "audit_failed"
    failed = [a.result for a in stored.audits if not a.result.passed]
    assert failed[0].failing_rows > 0 and failed[0].sample


def test_failing_non_blocking_audit_publishes_with_a_warning(project, sample):
    with_audit(sample, """\
        - function: row_count_between
          blocking: false
          params: {table: foo.dataflow_sample_results, min: 1, max: 10}
""")

    result = project.run(sample, date="2022-01-01")

    assert result.ok
    assert any("row_count_between" in w for w in result.warnings)
    assert project.catalog.read(RESULTS).num_rows > 10


def test_failure_in_a_write_job_publishes_nothing_and_a_rerun_succeeds(project, sample):
    script = sample.parent / "src" / "sparksql_write.sql"
    good = script.read_text()
    # A mistake only running shows (no preflight reads the data): the text cannot become a DATE.
    script.write_text(good.replace("DATE '${DATE}' AS date\nFROM STEP_3", "'someday' AS date\nFROM STEP_3"))

    broken = project.run(sample, date="2022-01-01")

    assert broken.status == "failed" and "someday" in broken.error, broken.error
    assert str(script) in broken.error
    assert project.catalog.snapshot_id(RESULTS) is None
    assert list(list_branches(project.catalog, RESULTS)) in ([], ["main"])
    script.write_text(good)
    assert project.run(sample, date="2022-01-01").ok


def nothing_ran(project) -> bool:
    """No run or job run was recorded and the step before the WAP (the DDL) created nothing."""
    return project.state.list_runs() == [] and not project.catalog.exists(RESULTS)


def test_a_mistake_in_the_wap_step_runs_no_step_at_all(project, sample):
    script = sample.parent / "src" / "sparksql_write.sql"
    script.write_text(script.read_text().replace("SUM(view_hours)", "SUM(view_hourz)"))

    with pytest.raises(SpecError) as err:
        project.run(sample, date="2022-01-01")

    assert str(err.value) == (f"{script}:7: unknown column 'view_hourz' (not in source_table); "
                              "did you mean 'view_hours'?")
    assert nothing_ran(project)


def test_sql_syntax_error_names_script_and_line(project, sample):
    script = sample.parent / "src" / "sparksql_write.sql"
    lines = script.read_text().splitlines()
    lines[5] = "        , SUM(view_hours) AS AS view_hours"
    script.write_text("\n".join(lines))

    with pytest.raises(SpecError, match=f"^{script}:6: syntax error"):
        project.run(sample, date="2022-01-01")
    assert nothing_ran(project)


def test_unknown_source_table_suggests_close_names(project, sample):
    with pytest.raises(SpecError) as err:
        project.run(sample, date="2022-01-01", params={"SOURCE_TABLE": "some_db.source_tabel"})

    assert "unknown table 'some_db.source_tabel'; did you mean 'some_db.source_table'?" in str(err.value)
    assert nothing_ran(project)


def test_malformed_yaml_names_line_and_runs_nothing(project, write_workflow):
    path = write_workflow("id: broken\nsteps:\n  - job: {id: a, type: sql\n")

    with pytest.raises(SpecError) as err:
        project.run(path, date="2022-01-01")

    assert str(path) in str(err.value) and ":3:" in str(err.value)
    assert project.state.list_runs() == []


def test_unknown_job_type_is_reported_with_position_and_choices(project, write_workflow):
    path = write_workflow("id: wf\nsteps:\n  - job:\n      id: a\n      type: sparkk\n      script: x.sql\n")

    with pytest.raises(SpecError) as err:
        project.run(path, date="2022-01-01")

    message = str(err.value)
    assert f"{path}:" in message and "sparkk" in message and "sql" in message
    assert project.state.list_runs() == []


def test_missing_field_and_wrong_type_are_reported(project, write_workflow):
    missing = write_workflow("id: wf\nsteps:\n  - job:\n      id: m\n      type: hwm\n", name="a.sch.yaml")
    wrong = write_workflow(
        "id: wf\nsteps:\n  - job:\n      id: m\n      type: metadata\n      table: a.b\n      lifetime: forever\n",
        name="b.sch.yaml",
    )

    with pytest.raises(SpecError, match="table"):
        project.run(missing, date="2022-01-01")
    with pytest.raises(SpecError) as err:
        project.run(wrong, date="2022-01-01")
    assert ":7:" in str(err.value) and "lifetime" in str(err.value)


def test_undefined_parameter_names_it_and_where(project, write_workflow):
    path = write_workflow("id: wf\nsteps:\n  - job:\n      id: h\n      type: hwm\n      table: ${NOPE}.t\n")

    with pytest.raises(ParameterError) as err:
        project.run(path, date="2022-01-01")

    assert "NOPE" in str(err.value) and f"{path}:6" in str(err.value)


def test_undefined_parameter_in_sql_names_the_script_line(project, write_workflow):
    path = write_workflow(
        "id: wf\nsteps:\n  - job: {id: q, type: sql, script: q.sql}\n",
        files={"q.sql": "SELECT 1\n-- comment\nFROM ${MISSING_DB}.t\n"},
    )

    with pytest.raises(ParameterError, match=r"q.sql:3:6: undefined parameter '\$\{MISSING_DB\}'"):
        project.run(path, date="2022-01-01")
    assert project.state.list_runs() == []
