"""Nothing runs until the whole workflow is known to be valid: every problem, together, before step 1."""

from __future__ import annotations

import pytest

from towpath.catalog import apply_ddl
from towpath.errors import SpecError, SpecErrors
from towpath.testing import validate_project

DDL = "CREATE TABLE IF NOT EXISTS b.t (id INT, name STRING) USING iceberg"

BROKEN = """\
id: broken
steps:
  - job:
      id: ddl
      type: sql
      sql: |
        CREATE TABLE IF NOT EXISTS b.t (id INT, name STRING) USING iceberg
  - job:
      id: fill
      type: sql
      script: fill.sql
  - job:
      id: meta
      type: metadata
      table: b.t
      owner: ana
  - job:
      id: mark_other
      type: hwm
      table: b.tx
  - job:
      id: mark
      type: hwm
      table: b.t
      hwm_datetime: "2022-02-30"
  - job:
      id: mark_zone
      type: hwm
      table: b.t
      hwm_timezone: Mars/Olympus
  - job:
      id: transform
      type: python
      callable: transform.py:transfrom
"""


def write_broken(write_workflow):
    return write_workflow(BROKEN, files={
        "fill.sql": "INSERT INTO b.t\nSELECT 1, 'a', 'extra'\n",
        "transform.py": "def transform(ctx):\n    return None\n",
    })


def messages(err: SpecError) -> list[str]:
    return [str(e) for e in (err.errors if isinstance(err, SpecErrors) else [err])]


def test_every_problem_of_every_step_is_reported_together_and_nothing_runs(project, write_workflow):
    path = write_broken(write_workflow)

    with pytest.raises(SpecErrors) as info:
        project.run(path, date="2022-01-01", params={"TARGT": "x"})

    assert messages(info.value) == [
        (f"{project.root / 'fill.sql'}:1: INSERT into b.t: the query returns 3 columns (1, a, extra) "
        "but the INSERT fills 2 (id, name)"),
        (f"{path}:20:7: steps[3].job.table: unknown table 'b.tx'; did you mean 'b.t'? "
        "(it neither exists nor is created by an earlier step's CREATE TABLE)"),
        (f"{path}:25:7: steps[4].job.hwm_datetime: high-water mark '2022-02-30' is not an ISO date or "
        "datetime (e.g. 2024-01-31 or 2024-01-31T06:00:00+00:00)"),
        (f"{path}:30:7: steps[5].job.hwm_timezone: unknown timezone 'Mars/Olympus' (expected an IANA name such as "
        "'UTC' or 'America/Los_Angeles')"),
        (f"{path}:34:7: steps[6].job.callable: 'transfrom' is not defined in {project.root / 'transform.py'}; "
        "did you mean 'transform'?"),
        f"{path}: -p TARGT: no step uses the parameter 'TARGT'",
    ]
    # The DDL step comes first and is fine, but it did not run: nothing is created, nothing recorded.
    assert not project.catalog.exists("b.t")
    assert project.state.list_runs() == []


def test_project_validate_reports_the_same_problems_through_the_same_code(project, write_workflow):
    path = write_broken(write_workflow)

    problems = [str(p) for p in validate_project(project)]

    assert f"{path}:30:7: steps[5].job.hwm_timezone: unknown timezone 'Mars/Olympus' (expected an IANA name such " \
           "as 'UTC' or 'America/Los_Angeles')" in problems
    assert any(p.startswith(f"{project.root / 'fill.sql'}:1: INSERT into b.t: the query returns 3") for p in problems)


def test_an_unused_parameter_suggests_the_one_a_step_uses(project, write_workflow):
    path = write_workflow("id: wf\nsteps:\n  - job: {id: a, type: sql, sql: \"SELECT '${TARGET_DB}' AS x\"}\n")

    with pytest.raises(SpecError, match=r"-p TARGET_BD: no step uses the parameter 'TARGET_BD'; "
                                        r"did you mean 'TARGET_DB'\?"):
        project.run(path, date="2022-01-01", params={"TARGET_DB": "a", "TARGET_BD": "b"})


def test_a_parameter_a_python_job_reads_by_name_is_used(project, write_workflow):
    path = write_workflow(
        "id: wf\nsteps:\n  - job: {id: a, type: python, callable: job.py:run}\n",
        files={"job.py": "def run(ctx):\n    assert ctx.params['LIMIT'] == '5'\n"},
    )

    assert project.run(path, date="2022-01-01", params={"LIMIT": "5"}).ok


def test_a_ddl_that_conflicts_with_the_existing_table_is_reported_before_anything_runs(project, write_workflow):
    project.catalog.ensure_namespace("b")
    apply_ddl(project.catalog, DDL)
    path = write_workflow(
        "id: wf\nsteps:\n"
        "  - job: {id: first, type: sql, sql: \"CREATE TABLE IF NOT EXISTS b.first (x INT) USING iceberg\"}\n"
        "  - job: {id: ddl, type: sql, script: ddl.sql}\n",
        files={"ddl.sql": "-- the table has id INT\n\nCREATE TABLE IF NOT EXISTS b.t (id STRING, name STRING) USING iceberg;\n"},
    )

    with pytest.raises(SpecError) as info:
        project.run(path, date="2022-01-01")

    assert str(info.value) == (f"{project.root / 'ddl.sql'}:3: table 'b.t' differs from its DDL: column 'id' type "
                               "changed: table has int, DDL says string")
    assert not project.catalog.exists("b.first")


def test_an_unsupported_ddl_type_is_reported_at_its_line(project, write_workflow):
    path = write_workflow(
        "id: wf\nsteps:\n  - job: {id: ddl, type: sql, script: ddl.sql}\n",
        files={"ddl.sql": "CREATE TABLE b.t (\n  id INT,\n  span INTERVAL\n) USING iceberg\n"},
    )

    with pytest.raises(SpecError, match=r"ddl.sql:1: b.t.span: unsupported type 'INTERVAL'"):
        project.run(path, date="2022-01-01")


@pytest.mark.parametrize("script", ["", "-- nothing here yet\n\n"])
def test_an_empty_sql_script_is_an_error(project, write_workflow, script):
    path = write_workflow("id: wf\nsteps:\n  - job: {id: q, type: sql, script: q.sql}\n", files={"q.sql": script})

    with pytest.raises(SpecError, match=r"wf.sch.yaml:3:\d+: steps\[0\].job.script: the SQL script is empty"):
        project.run(path, date="2022-01-01")


def test_a_script_whose_second_ddl_conflicts_creates_nothing(project, write_workflow):
    project.catalog.ensure_namespace("b")
    apply_ddl(project.catalog, DDL)
    path = write_workflow(
        "id: wf\nsteps:\n  - job: {id: ddl, type: sql, script: ddl.sql}\n",
        files={"ddl.sql": "CREATE TABLE IF NOT EXISTS b.new (x INT) USING iceberg;\n"
                          "CREATE TABLE IF NOT EXISTS b.t (id BIGINT, name STRING, extra INT) USING iceberg;\n"},
    )

    with pytest.raises(SpecError, match=r"ddl.sql:2: table 'b.t' differs from its DDL"):
        project.run(path, date="2022-01-01")
    assert not project.catalog.exists("b.new")


def test_a_table_an_earlier_python_step_may_create_is_not_reported(project, write_workflow):
    path = write_workflow(
        "id: wf\nsteps:\n"
        "  - job: {id: make, type: python, callable: make.py:make}\n"
        "  - job: {id: ddl, type: sql, sql: \"CREATE TABLE IF NOT EXISTS b.out (n BIGINT) USING iceberg\"}\n"
        "  - job: {id: count, type: sql, target: b.out, sql: \"SELECT COUNT(*) AS n FROM b.src\"}\n",
        files={"make.py": "from towpath.catalog import apply_ddl\n\n\ndef make(ctx):\n"
                          "    ctx.run.catalog.ensure_namespace('b')\n"
                          "    apply_ddl(ctx.run.catalog, 'CREATE TABLE IF NOT EXISTS b.src (x INT) USING iceberg')\n"},
    )

    assert project.run(path, date="2022-01-01").ok


def test_a_backfill_with_a_mistake_runs_no_date(project, write_workflow):
    write_broken(write_workflow)
    backfill = write_workflow("id: bf\ntype: backfill\nworkflow: wf.sch.yaml\n", name="backfill.sch.yaml")

    with pytest.raises(SpecErrors):
        project.backfill(backfill, start="2022-01-01", end="2022-01-03")
    assert project.state.list_runs() == [] and not project.catalog.exists("b.t")


def test_a_daily_with_a_mistake_fails_before_its_first_day_runs(project, write_workflow):
    write_broken(write_workflow)
    daily = write_workflow("id: d\ntype: daily\nworkflow: wf.sch.yaml\nschedule: '0 6 * * *'\nlookback_days: 2\n",
                           name="daily.sch.yaml")

    result = project.daily(daily, today="2022-01-03")

    assert result.status == "failed" and "Mars/Olympus" in (result.error or "")
    assert result.runs == [] and [r.kind for r in project.state.list_runs()] == ["daily"]
    assert not project.catalog.exists("b.t")


def test_an_impossible_date_in_a_backfill_file_is_an_error_at_its_line(project, write_workflow):
    write_workflow("id: wf\nsteps:\n  - job: {id: a, type: sql, sql: SELECT 1}\n")
    backfill = write_workflow("id: bf\ntype: backfill\nworkflow: wf.sch.yaml\nstart: 2022-02-30\nend: 2022-03-01\n",
                              name="backfill.sch.yaml")

    with pytest.raises(SpecError, match=r"backfill.sch.yaml:4:8: invalid YAML: '2022-02-30' is not a valid date"):
        project.backfill(backfill)


def test_the_checks_read_the_kept_parse_trees_and_change_none(project, sample, monkeypatch):
    from towpath.engines import script

    shared: list[tuple[object, str]] = []
    original = script.parse_script

    def recording(text, **kwargs):
        statements = original(text, **kwargs)
        if kwargs.get("shared"):
            shared.extend((s.expression, s.expression.sql()) for s in statements)
        return statements

    monkeypatch.setattr(script, "parse_script", recording)
    for _ in range(2):  # the second run reads the trees the first one's checks and run left behind
        assert project.run(sample, date="2022-01-02").ok
    assert len(shared) >= 4  # the loader's and the preflight's reads of the DDL and the write script
    assert [tree.sql() for tree, _ in shared] == [sql for _, sql in shared]
