"""The CLI-wide guard: exit codes, one-line errors, `-v` tracebacks, Ctrl-C, and JSON errors.

The parametrised table at the bottom is the contract that the guard's "internal
error" branch is never what a user sees for a documented mistake: each of those
must come out as a clean towpath error, exit 1, one line, no traceback.
"""

from __future__ import annotations

import json
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import error_lines, towpath, towpath_process

from towpath.catalog import apply_ddl
from towpath.cli import main as cli_main
from towpath.project import Project
from towpath.registry import Registry

# -- the guard itself, on a command group that misbehaves on purpose --------------------------------


@pytest.fixture
def broken_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """`towpath broken crash|interrupt|mistake`: a plugin command group with a bug, a Ctrl-C and a user error."""
    import click

    from towpath.errors import SpecError

    @click.group("broken")
    def group() -> None:
        """A group with a bug."""

    @group.command()
    @click.option("--json", "as_json", is_flag=True)
    def crash(as_json: bool) -> None:
        {}["no such key"]  # the bug

    @group.command()
    def interrupt() -> None:
        raise KeyboardInterrupt

    @group.command()
    @click.option("--json", "as_json", is_flag=True)
    def mistake(as_json: bool) -> None:
        raise SpecError("expected a date, got 'soon'", file="wf.sch.yaml", line=3, col=9, field="params.DATE")

    module = types.ModuleType("towpath_test_broken_cli")
    module.cli = group  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    groups: Registry[cli_main.CommandGroup] = Registry("command", group=None)
    groups.register("broken", cli_main.CommandGroup(f"{module.__name__}:cli", "A group with a bug."))
    monkeypatch.setattr(cli_main, "COMMAND_GROUPS", groups)


def test_an_unexpected_exception_is_one_line_and_exit_70(broken_group: None) -> None:
    result = towpath("broken", "crash")
    assert result.exit_code == 70
    assert error_lines(result.stderr) == [
        "error: internal error: KeyError: 'no such key' (run with -v for the traceback)"]
    assert result.stdout == ""


def test_verbose_shows_the_full_traceback(broken_group: None) -> None:
    result = towpath("-v", "broken", "crash")
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.stderr and '{}["no such key"]' in result.stderr
    assert result.stderr.rstrip().endswith("error: internal error: KeyError: 'no such key'")


def test_ctrl_c_is_interrupted_and_exit_130(broken_group: None) -> None:
    result = towpath("broken", "interrupt")
    assert result.exit_code == 130
    assert error_lines(result.stderr) == ["error: interrupted"]


def test_json_errors_go_to_stdout_with_type_and_position(broken_group: None) -> None:
    result = towpath("broken", "mistake", "--json")
    assert result.exit_code == 1 and result.stderr == ""
    assert json.loads(result.stdout) == {
        "error": "wf.sch.yaml:3:9: params.DATE: expected a date, got 'soon'", "type": "SpecError",
        "file": "wf.sch.yaml", "line": 3, "col": 9, "field": "params.DATE",
    }
    crash = json.loads(towpath("broken", "crash", "--json").stdout)
    assert crash["type"] == "KeyError" and crash["error"].startswith("internal error: KeyError")


def test_usage_errors_exit_2_also_as_json() -> None:
    assert towpath("no-such-group").exit_code == 2
    result = towpath("runs", "list", "--no-such-option", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"] == "No such option '--no-such-option'."


def test_exit_codes_are_what_a_shell_sees_and_are_in_the_help(tmp_path: Path) -> None:
    help_text = towpath_process("--help").stdout
    for line in ("0    ok", "1    error, or a failed run or audit", "2    usage error", "70   internal error",
                 "130  interrupted"):
        assert line in help_text
    assert towpath_process("runs", "lst").returncode == 2
    missing = towpath_process("-C", tmp_path, "runs", "list")
    assert missing.returncode == 1 and missing.stdout == ""
    assert error_lines(missing.stderr) == [
        f"error: no towpath.yaml found in {tmp_path} or any parent folder; create one with `towpath project init`"]


# -- documented mistakes never reach the guard's internal-error branch ------------------------------

Case = Callable[[Project, Path], list[str]]


def _workflow(text: str, date: str = "2022-01-01") -> Case:
    def setup(project: Project, tmp: Path) -> list[str]:
        path = project.root / "wf.sch.yaml"
        path.write_text(textwrap.dedent(text))
        return ["workflow", "run", str(path), "--date", date]
    return setup


def _mock_output(project: Project, tmp: Path) -> list[str]:
    apply_ddl(project.catalog, "CREATE TABLE IF NOT EXISTS db.t (id INT) STORED AS ICEBERG;")
    (tmp / "a_file").write_text("")
    return ["mock", "generate", "db.t", "-o", str(tmp / "a_file" / "db.t.yaml")]


def _bad_mock(project: Project, tmp: Path) -> list[str]:
    apply_ddl(project.catalog, "CREATE TABLE IF NOT EXISTS db.t (id INT) STORED AS ICEBERG;")
    path = tmp / "db.t.yaml"
    path.write_text("table: db.t\ncolumns:\n  - {name: id, type: int}\nrows:\n  - [one]\n")
    return ["mock", "validate", str(path)]


def _factory(body: str) -> Case:
    def setup(project: Project, tmp: Path) -> list[str]:
        (tmp / "jobs.py").write_text(body)
        return ["pipeline", "run", f"{tmp / 'jobs.py'}:build"]
    return setup


def _file_as_folder(*args: str) -> Case:
    def setup(project: Project, tmp: Path) -> list[str]:
        (tmp / "a_file").write_text("")
        return [a.replace("FILE", str(tmp / "a_file")) for a in args]
    return setup


def _args(*args: str) -> Case:
    return lambda project, tmp: list(args)


def _project_setting(old: str, new: str) -> Case:
    def setup(project: Project, tmp: Path) -> list[str]:
        config = project.root / "towpath.yaml"
        config.write_text(config.read_text().replace(old, new, 1))
        return _workflow("id: x\nsteps:\n  - job: {id: a, type: sql, sql: SELECT 1}\n")(project, tmp)
    return setup


MISTAKES: dict[str, tuple[Case, str]] = {
    "YAML tab": (_workflow("id: x\nsteps:\n\t- job: {id: a, type: sql, sql: SELECT 1}\n"),
                 "wf.sch.yaml:3:1: invalid YAML: found character '\\t' that cannot start any token"),
    "YAML bad indentation": (_workflow("id: x\nparams:\n   A: 1\n  B: 2\nsteps: []\n"), "wf.sch.yaml:4:3: invalid YAML"),
    "YAML duplicate key": (_workflow("id: x\nid: y\nsteps: []\n"), "wf.sch.yaml:2:1: invalid YAML: found duplicate key"),
    "YAML impossible date": (_workflow("id: x\nparams:\n  D: 2022-02-30\nsteps: []\n"),
                             "wf.sch.yaml:3:6: invalid YAML: '2022-02-30' is not a valid date/timestamp"),
    "YAML bad !!int": (_workflow("id: x\nparams:\n  N: !!int ten\nsteps: []\n"),
                       "wf.sch.yaml:3:6: invalid YAML: 'ten' is not a valid integer"),
    "unknown job type": (_workflow("id: x\nsteps:\n  - job: {id: a, type: nope}\n"), "wf.sch.yaml:3"),
    "undefined variable": (_workflow('id: x\nsteps:\n  - job: {id: a, type: sql, sql: "SELECT ${NOPE}"}\n'), "NOPE"),
    "bad SQL": (_workflow("id: x\nsteps:\n  - job: {id: a, type: sql, sql: SELEC 1}\n"), "syntax error"),
    "missing table": (_args("table", "show", "db.nope"), "Table 'db.nope' does not exist."),
    "unknown run id": (_args("runs", "show", "nope"), "No run 'nope' is recorded."),
    "unknown recipe": (_args("sample", "workflow", "nope"), "Unknown recipe 'nope'."),
    "bad mock": (_bad_mock, "db.t.yaml:5: rows[0].id: expected an integer, got 'one'"),
    "schema -o into a missing folder": (_args("workflow", "schema", "-o", "/nonexistent/x.json"),
                                        "cannot write /nonexistent/x.json: the folder /nonexistent does not exist"),
    "project init under a file": (_file_as_folder("project", "init", "FILE/p"), "a_file is a file, not a folder"),
    "sample workflow under a file": (_file_as_folder("sample", "workflow", "sql", "FILE/s"), "a_file"),
    "mock generate -o under a file": (_mock_output, "a_file is a file, not a folder"),
    "failing pipeline factory": (_factory("def build():\n    raise ValueError('no orders for today')\n"),
                                 "raised ValueError: no orders for today (at "),
    "pipeline factory that fails to import": (_factory("import no_such_module_xyz\n"), "ModuleNotFoundError"),
    "unknown engine in towpath.yaml": (_project_setting("type: duckdb", "type: duckd"), "duckd"),
    "malformed -p": (_args("workflow", "run", "main.sch.yaml", "-p", "DATE"), "KEY=VALUE"),
    "missing workflow file": (_args("workflow", "run", "nope.sch.yaml"), "nope.sch.yaml"),
    "impossible --date": (_workflow("id: x\nsteps:\n  - job: {id: a, type: sql, sql: SELECT 1}\n", "2022-02-30"),
                          "2022-02-30"),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_documented_mistakes_are_clean_towpath_errors(name: str, project: Project, tmp_path: Path) -> None:
    setup, expected = MISTAKES[name]
    args = setup(project, tmp_path)
    result = towpath("-C", project.root, *args)
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert expected in result.stderr, result.stderr
    if args[:2] != ["workflow", "schema"]:  # every other command here takes --json
        as_json = towpath("-C", project.root, *setup(project, tmp_path), "--json")
        payload = json.loads(as_json.stdout)  # an error object, or the failed result (a run, mock reports)
        assert as_json.exit_code == 1 and "internal error" not in as_json.stdout
        if isinstance(payload, dict) and "type" in payload:
            assert {"error", "type", "file", "line", "col", "field"} <= payload.keys() and expected in payload["error"]


def test_a_failing_factory_names_the_users_line_and_v_shows_the_traceback(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.py"
    jobs.write_text("def helper():\n    raise ValueError('no orders for today')\n\n\ndef build():\n    return helper()\n")
    result = towpath("pipeline", "run", f"{jobs}:build")
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        f"error: factory '{jobs}:build' raised ValueError: no orders for today (at {jobs}:2 in helper)"]
    verbose = towpath("-v", "pipeline", "run", f"{jobs}:build")
    assert verbose.exit_code == 1 and "Traceback (most recent call last)" in verbose.stderr
    assert f'File "{jobs}", line 6, in build' in verbose.stderr and "towpath/pipeline/loader.py" in verbose.stderr
