"""WAP cannot be bypassed: writes that would reach `main` unaudited are refused before anything runs."""

from __future__ import annotations

import pytest

from towpath.errors import SpecError

DDL = """\
CREATE TABLE IF NOT EXISTS g.audited (id INT, date STRING) USING iceberg PARTITIONED BY (date);
CREATE TABLE IF NOT EXISTS g.other (id INT, date STRING) USING iceberg PARTITIONED BY (date);
"""

WORKFLOW = """\
id: guard
steps:
  - job: {id: ddl, type: sql, script: ddl.sql}
%s
  - template:
      id: wap
      tables: [g.audited]
      write_jobs:
%s
"""

WRITE_AUDITED = "        - job: {id: write, type: sql, sql: \"INSERT OVERWRITE g.audited SELECT 1, '${DATE}'\"}"


def test_a_write_job_writing_a_table_the_template_does_not_publish_is_refused_before_anything_runs(
    project, write_workflow
):
    path = write_workflow(WORKFLOW % ("", WRITE_AUDITED + """
        - job:
            id: sneaky
            type: sql
            sql: "INSERT INTO g.other SELECT 2, '${DATE}'"
"""), files={"ddl.sql": DDL})

    with pytest.raises(SpecError) as info:
        project.run(path, date="2024-01-02")

    assert info.value.line == 13 and info.value.field == "steps[1].template.write_jobs[1].job.sql"
    assert "writes g.other, which WAP template 'wap' does not publish" in info.value.msg
    assert not project.catalog.exists("g.audited") and not project.catalog.exists("g.other")  # the DDL never ran


def test_a_python_write_jobs_target_outside_the_templates_tables_is_refused_at_its_line(project, write_workflow):
    path = write_workflow(WORKFLOW % ("", WRITE_AUDITED + """
        - job: {id: py, type: python, callable: "t.py:f", target: G.Other}
"""), files={"ddl.sql": DDL, "t.py": "def f(ctx):\n    return None\n"})

    with pytest.raises(SpecError, match=r"wf\.sch\.yaml:10:\d+: steps\[1\]\.template\.write_jobs\[1\]\.job\.target: "
                                         r"write job 'py' writes G.Other"):
        project.run(path, date="2024-01-02")


def test_a_step_outside_the_template_writing_its_table_is_refused_unless_it_says_wap_false(project, write_workflow):
    outside = "  - job: {id: direct, type: sql, sql: \"INSERT INTO g.audited SELECT 9, '${DATE}'\"%s}"
    path = write_workflow(WORKFLOW % (outside % "", WRITE_AUDITED), files={"ddl.sql": DDL})

    with pytest.raises(SpecError) as info:
        project.run(path, date="2024-01-02")
    assert (info.value.line, info.value.field) == (4, "steps[1].job.sql")
    assert "outside WAP template 'wap'" in info.value.msg and "wap: false" in info.value.msg
    assert not project.catalog.exists("g.audited")

    path.write_text(WORKFLOW % (outside % ", wap: false", WRITE_AUDITED))
    result = project.run(path, date="2024-01-02")
    assert result.ok, result.error
    assert project.catalog.read("g.audited").column("id").to_pylist() == [1]  # the WAP overwrote the direct write


def test_ddl_outside_the_template_and_writes_of_its_own_tables_inside_it_load(project, write_workflow):
    path = write_workflow(WORKFLOW % ("", WRITE_AUDITED), files={"ddl.sql": DDL})
    assert project.run(path, date="2024-01-02").ok
