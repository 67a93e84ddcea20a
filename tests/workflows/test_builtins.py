"""Built-in parameters in a real `workflow run`: every documented one resolves, from one assembly."""

from __future__ import annotations

import pytest

from towpath.errors import ParameterError
from towpath.workflows.params import BUILTINS

WORKFLOW = """\
id: builtins
steps:
  - job:
      id: ddl
      type: sql
      sql: |
        CREATE TABLE IF NOT EXISTS b.seen (name STRING, value STRING) USING iceberg
  - job:
      id: record
      type: sql
      target: b.seen
      mode: append
      sql: |
        SELECT * FROM VALUES {values} AS t(name, value)
"""


def test_every_documented_builtin_resolves_in_a_real_run(project, write_workflow, monkeypatch):
    monkeypatch.setenv("TOWPATH_USER", "ana")
    values = ", ".join(f"('{name}', '${{{name}}}')" for name in BUILTINS)
    path = write_workflow(WORKFLOW.format(values=values))

    result = project.run(path, date="2022-03-04")

    assert result.ok, result.error
    seen = dict(zip(*project.catalog.read("b.seen").select(["name", "value"]).to_pydict().values(), strict=True))
    assert seen == {
        "EXECUTION_DATE": "2022-03-04", "DATE": "2022-03-04", "DATE_NODASH": "20220304",
        "EXECUTION_TIMEZONE": "UTC", "CATALOG": "test", "username": "ana", "RUN_ID": result.run_id,
    }
    assert project.state.get_run(result.run_id).run.params["RUN_ID"] == result.run_id


def test_the_documented_builtins_are_the_ones_the_runner_defines():
    documented = (__import__("pathlib").Path(__file__).parents[2] / "docs" / "workflows.md").read_text()
    section = documented.split("## Parameters", 1)[1].split("\n## ", 1)[0]
    for name in BUILTINS:
        assert f"`{name}`" in section, f"{name} is not documented in docs/workflows.md"


@pytest.mark.parametrize("name", ["RUN_ID", "DATE_NODASH"])
def test_a_per_run_builtin_cannot_be_set_on_the_command_line(project, write_workflow, name):
    path = write_workflow(WORKFLOW.format(values="('x', '${RUN_ID}')"))
    with pytest.raises(ParameterError, match=f"-p {name}: '{name}' is computed for every run"):
        project.run(path, date="2022-03-04", params={name: "mine"})
    assert project.state.list_runs() == []


@pytest.mark.parametrize(("given", "field"), [({"date": "2022-02-30"}, "--date"),
                                               ({"params": {"DATE": "2022-02-30"}}, "-p DATE")])
def test_a_date_that_does_not_exist_names_where_it_came_from(project, write_workflow, given, field):
    path = write_workflow(WORKFLOW.format(values="('x', '${DATE}')"))
    with pytest.raises(ParameterError, match=f"{field}: expected a date like 2022-01-01, got '2022-02-30' \\(day is out of range"):
        project.run(path, **given)
    assert project.state.list_runs() == []
