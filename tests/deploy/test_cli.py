"""`towpath project deploy|promote|env` and `--env`/`TOWPATH_ENV` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from deploy_case import RESULTS, git, production_state, rows_by_date

from towpath.cli.main import cli
from towpath.project import Project


def invoke(root: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["-C", str(root), *args], env=env)


def test_help_teaches_with_examples() -> None:
    for command in ("deploy", "promote", "ci"):
        result = CliRunner().invoke(cli, ["project", command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, result.output
    assert "--env NAME" in CliRunner().invoke(cli, ["workflow", "run", "--help"]).output


def test_deploy_run_promote_and_drop_from_the_command_line(prod: Project) -> None:
    git(prod.root, "checkout", "-q", "-b", "feature/cli")
    deployed = invoke(prod.root, "project", "deploy", "--json")
    assert deployed.exit_code == 0, deployed.output
    assert json.loads(deployed.output)["env"] == "feature_cli"
    before = production_state(prod)
    ran = invoke(prod.root, "workflow", "run", "wf/main.sch.yaml", "--env", "feature_cli", "-p", "DATE=2022-01-02")
    assert ran.exit_code == 0, ran.output
    by_variable = invoke(prod.root, "workflow", "run", "wf/main.sch.yaml", "-p", "DATE=2022-01-03",
                         env={"TOWPATH_ENV": "feature/cli"})
    assert by_variable.exit_code == 0, by_variable.output
    assert production_state(prod) == before
    env = Project(prod.root, env="feature_cli")
    assert set(rows_by_date(env)) == {"2022-01-01", "2022-01-02", "2022-01-03"}

    listed = invoke(prod.root, "project", "env", "list", "--json")
    [row] = json.loads(listed.output)
    assert row["name"] == "feature_cli" and row["deployed"]["branch"] == "feature/cli" and row["files"] > 0
    text = invoke(prod.root, "project", "env", "list")
    assert "feature_cli" in text.output and all(len(line) <= 80 for line in text.output.splitlines())

    promoted = invoke(prod.root, "project", "promote", "--env", "feature/cli")
    assert promoted.exit_code == 0, promoted.output
    assert RESULTS in promoted.output
    assert rows_by_date(Project(prod.root, env="main")) == rows_by_date(env)
    dropped = invoke(prod.root, "project", "env", "drop", "feature_cli")
    assert dropped.exit_code == 0 and "production unchanged" in dropped.output


def test_mistakes_are_one_clean_line(prod: Project, tmp_path: Path) -> None:
    git(prod.root, "checkout", "-q", "-b", "feature/cli")
    assert invoke(prod.root, "project", "deploy").exit_code == 0
    unknown = invoke(prod.root, "project", "promote", "--env", "feature_clj")
    assert unknown.exit_code == 1 and "Did you mean 'feature_cli'" in unknown.output
    assert "Traceback" not in unknown.output
    as_json = invoke(prod.root, "project", "promote", "--env", "feature_clj", "--json")
    assert as_json.exit_code == 1 and "Did you mean" in as_json.output
    not_git = tmp_path / "plain"
    Project.init(not_git)
    refused = invoke(not_git, "project", "deploy")
    assert refused.exit_code == 1 and "not in a git repository" in refused.output and "--env" in refused.output
    assert invoke(not_git, "project", "deploy", "--env", "scratch").exit_code == 0  # --env needs no git
    (prod.root / "scratch.txt").write_text("uncommitted")
    dirty = invoke(prod.root, "project", "deploy")
    assert dirty.exit_code == 0 and "uncommitted changes" in dirty.output
