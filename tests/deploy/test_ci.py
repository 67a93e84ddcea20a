"""The generated CI configuration, run step by step in a real git repository with two branches."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from deploy_case import commit_all, git, production_state, rows_by_date
from ruamel.yaml import YAML

from towpath.cli.main import cli
from towpath.project import Project

SRC = Path(__file__).resolve().parents[2] / "src"


def _yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(io.StringIO(path.read_text()))


def _push_steps(config: Any) -> list[tuple[str, str]]:
    """(name, shell) of the GitHub push job's run steps, in order."""
    return [(s["name"], s["run"]) for s in config["jobs"]["deploy"]["steps"] if "run" in s]


def _run_steps(root: Path, steps: list[tuple[str, str]]) -> None:
    """Run each step's shell as a runner would, in the checkout, with this towpath on PATH (instead of pip install)."""
    environ = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "PYTHONPATH": str(SRC)}
    environ.pop("TOWPATH_ENV", None)
    for name, shell in steps:
        if name == "Install towpath":
            continue
        done = subprocess.run(["bash", "-eo", "pipefail", "-c", shell], cwd=root, env=environ, capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, f"step {name!r} failed:\n{done.stdout}\n{done.stderr}"


def test_github_pipeline_deploys_a_feature_branch_in_isolation_then_promotes(repo: Path) -> None:
    written = CliRunner().invoke(cli, ["-C", str(repo), "project", "ci", "--provider", "github"])
    assert written.exit_code == 0, written.output
    path = repo / ".github" / "workflows" / "towpath.yml"
    config = _yaml(path)
    assert set(config["on"]) == {"push", "workflow_dispatch"}
    steps = _push_steps(config)
    assert [n for n, _ in steps] == ["Install towpath", "Validate every workflow", "Unit tests",
                                     "Deploy this branch's environment"]
    assert "project promote" in config["jobs"]["promote"]["steps"][-1]["run"]
    commit_all(repo, "ci")

    _run_steps(repo, steps)  # the push to main: production
    production = Project(repo, env="main")
    before = production_state(production)
    assert before and rows_by_date(production)

    git(repo, "checkout", "-q", "-b", "feature/top-50")
    sql = repo / "wf" / "src" / "sql_write.sql"
    sql.write_text(sql.read_text().replace("title_rank <= 100", "title_rank <= 50"))
    commit_all(repo, "top 50 only")
    _run_steps(repo, steps)  # the push to the feature branch: its environment

    assert production_state(production) == before  # the feature branch's runs never changed production
    env = Project(repo, env="feature_top_50")
    ranks = env.catalog.read("sample_root.dataflow_sql_sample_results").column("title_rank").to_pylist()
    assert max(ranks) <= 50
    assert max(production.catalog.read("sample_root.dataflow_sql_sample_results").column("title_rank").to_pylist()) > 50

    promoted = CliRunner().invoke(cli, ["-C", str(repo), "project", "promote", "--env", "feature/top-50"])
    assert promoted.exit_code == 0, promoted.output
    assert rows_by_date(production) == rows_by_date(env)
    assert production.catalog.read("sample_root.dataflow_sql_sample_results").sort_by("title_id").equals(
        env.catalog.read("sample_root.dataflow_sql_sample_results").sort_by("title_id"))


def test_gitlab_pipeline_runs_the_same_steps_and_promotes_by_hand(repo: Path) -> None:
    printed = CliRunner().invoke(cli, ["-C", str(repo), "project", "ci", "--provider", "gitlab", "--output", "-"])
    assert printed.exit_code == 0 and not (repo / ".gitlab-ci.yml").exists()
    config = YAML(typ="safe", pure=True).load(io.StringIO(printed.output))
    assert config["stages"] == ["validate", "test", "deploy", "promote"]
    scripts = [config[stage]["script"] for stage in config["stages"]]
    assert scripts[:3] == [["towpath project validate"], ["towpath project test"], ["towpath project deploy --run"]]
    assert config["promote"]["rules"][0]["when"] == "manual" and "project promote" in scripts[3][0]
    github = CliRunner().invoke(cli, ["-C", str(repo), "project", "ci", "--provider", "github", "--json"])
    assert github.exit_code == 0
    unknown = CliRunner().invoke(cli, ["-C", str(repo), "project", "ci", "--provider", "jenkins"])
    assert unknown.exit_code == 2 and "jenkins" in unknown.output
