"""The CLI as a user sees it: help, run output, JSON, exit codes, no tracebacks for mistakes."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from towpath.cli.main import cli


def towpath(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "towpath.cli.main", *args], capture_output=True, text=True, check=False)


def test_help_lists_the_command_groups_with_one_line_each():
    result = towpath("--help")

    assert result.returncode == 0
    for group in ("project", "workflow", "table", "runs", "schedule", "pipeline"):
        assert f"  {group} " in result.stdout
    assert towpath("--version").stdout.strip() == "towpath, version 0.1.0"


def test_workflow_run_renders_steps_audits_and_publishes(project, sample):
    result = CliRunner().invoke(cli, ["-C", str(project.root), "workflow", "run", str(sample), "-p", "DATE=2022-01-01"])

    assert result.exit_code == 0, result.output
    assert "wap" in result.output and "columns_should_be_unique" in result.output and "published" in result.output


def test_runs_list_and_show_as_json(project, sample):
    project.run(sample, date="2022-01-01")
    runner = CliRunner()

    listed = json.loads(runner.invoke(cli, ["-C", str(project.root), "runs", "list", "--json"]).output)
    shown = json.loads(runner.invoke(cli, ["-C", str(project.root), "runs", "show", listed[0]["run_id"], "--json"]).output)

    assert listed[0]["status"] == "success" and listed[0]["execution_date"] == "2022-01-01"
    assert [j["job_id"] for j in shown["jobs"]] == ["ddl", "metadata", "wap", "wap.write", "hwm"]
    assert len(shown["audits"]) == 4 and {a["attempt"] for a in shown["audits"]} == {1}


def test_user_mistakes_print_one_line_and_exit_1(project, tmp_path):
    bad = project.root / "bad.sch.yaml"
    bad.write_text("id: x\nsteps:\n  - job: {id: a, type: nope}\n")

    result = towpath("-C", str(project.root), "workflow", "run", str(bad), "--date", "2022-01-01")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "bad.sch.yaml:3" in result.stderr and "nope" in result.stderr
    outside = towpath("-C", str(tmp_path / "nowhere"), "runs", "list")
    assert outside.returncode == 1 and "towpath.yaml" in outside.stderr and "Traceback" not in outside.stderr


def test_failed_audit_exits_1_with_the_branch_named(project, sample):
    sample.write_text(sample.read_text().replace("      audits:\n", """      audits:
        - function: row_count_between
          params: {table: foo.dataflow_sample_results, max: 5}
""", 1))

    result = towpath("-C", str(project.root), "workflow", "run", str(sample), "--date", "2022-01-01")

    assert result.returncode == 1 and "row_count_between" in result.stderr and "branch" in result.stderr
    as_json = towpath("-C", str(project.root), "workflow", "run", str(sample), "--date", "2022-01-02", "--json")
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and report["status"] == "audit_failed" and not report["ok"]
    assert report["failed_audits"] == ["row_count_between"] and report["published"] == {}


def test_project_init_creates_a_runnable_project(tmp_path):
    result = CliRunner().invoke(cli, ["project", "init", str(tmp_path / "p")])

    assert result.exit_code == 0
    assert (tmp_path / "p" / "towpath.yaml").is_file()
    again = towpath("project", "init", str(tmp_path / "p"))
    assert again.returncode == 1 and "already" in again.stderr


def test_workflow_schema_is_json_schema():
    result = towpath("workflow", "schema")

    schema = json.loads(result.stdout)
    assert result.returncode == 0 and ("$defs" in schema or "definitions" in schema)


def test_workflow_commands_find_the_project_from_the_workflow_file(project, sample, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (sample.parent / "backfill.sch.yaml").write_text("id: bf\ntype: backfill\nworkflow: main.sch.yaml\n")

    ran = CliRunner().invoke(cli, ["workflow", "run", str(sample), "--date", "2022-01-01"])
    backfill = CliRunner().invoke(cli, ["workflow", "backfill", str(sample.parent / "backfill.sch.yaml"),
                                        "--start", "2022-01-02", "--end", "2022-01-02", "--json"])

    assert ran.exit_code == 0, ran.output
    assert backfill.exit_code == 0, backfill.output
    assert json.loads(backfill.stdout)["succeeded"] == ["2022-01-02"]
    assert [r.execution_date for r in project.state.list_runs(kind="main")] == ["2022-01-02", "2022-01-01"]


def test_a_run_that_publishes_nothing_says_succeeded(project):
    workflow = project.root / "ddl.sch.yaml"
    workflow.write_text("id: ddl_only\nsteps:\n  - job: {id: ddl, type: sql, sql: 'CREATE TABLE IF NOT EXISTS "
                        "db.t (id INT) STORED AS ICEBERG'}\n")

    result = CliRunner().invoke(cli, ["-C", str(project.root), "workflow", "run", str(workflow), "--date", "2022-01-01"])

    assert result.exit_code == 0, result.output
    assert "ddl_only 2022-01-01 succeeded in" in result.stdout and "published" not in result.stdout
