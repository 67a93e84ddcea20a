"""`towpath move run/versions/rollback/status` with --json, clean errors, and the `move` job type in a workflow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from move_helpers import move_file, profiles_project

sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))
from cli_helpers import towpath

from towpath.project import Project

IN_PROCESS = ("--nice", "0")
"""`move run` lowers its process's CPU priority; in-process here, that process is the test run's."""


def test_run_versions_rollback_status_as_json(project: Project) -> None:
    profiles_project(project)
    path = move_file(project, "embedded")
    dry = json.loads(towpath("-C", project.root, "move", "run", path, "--dry-run", "--json").stdout)
    assert dry["status"] == "dry_run" and dry["keys"] == 4 and "message ValueMessage" in dry["proto"]
    first = json.loads(towpath("-C", project.root, "move", "run", path, "--json", *IN_PROCESS).stdout)
    second = json.loads(towpath("-C", project.root, "move", "run", path, "--json", *IN_PROCESS).stdout)
    assert (first["version"], second["version"], second["previous"]) == (1, 2, 1)
    assert [a["status"] for a in second["audits"]] == ["passed", "passed", "passed"] and second["rows_per_s"] > 0
    versions = json.loads(towpath("-C", project.root, "move", "versions", "profiles", "--json").stdout)
    assert [(v["version"], v["status"], v["current"]) for v in versions] == [(1, "online", False), (2, "online", True)]
    back = json.loads(towpath("-C", project.root, "move", "rollback", "profiles", "--json").stdout)
    assert back == {"namespace": "profiles", "from": 2, "to": 1, "to_namespace": first["namespace"]}
    status = json.loads(towpath("-C", project.root, "move", "status", "profiles", "--json").stdout)
    assert status["current"]["version"] == 1 and status["keys"] == 4 and status["recovered"] == []
    human = towpath("-C", project.root, "move", "run", path, "--no-progress", *IN_PROCESS)
    assert human.exit_code == 0 and "profiles → v3 (profiles_" in human.stdout and "sample_matches_source" in human.stdout
    listing = towpath("-C", project.root, "move", "versions", "profiles")
    assert "online" in listing.stdout and all(len(line) <= 80 for line in listing.stdout.splitlines())


def test_user_mistakes_exit_1_with_one_line(project: Project) -> None:
    profiles_project(project)
    path = move_file(project, "embedded", "data_movement:\n  source: {table: crm.profiles}\n  key_columns: [nope]\n")
    result = towpath("-C", project.root, "move", "run", path, *IN_PROCESS)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert f"{path}:3:" in result.stderr and "column 'nope': not in the source" in result.stderr
    result = towpath("-C", project.root, "move", "rollback", "profiles")
    assert result.exit_code == 1 and "alias 'profiles' points at no version yet" in result.stderr
    as_json = towpath("-C", project.root, "move", "rollback", "profiles", "--to", "3", "--json")
    assert as_json.exit_code == 1 and "error" in json.loads(as_json.stdout or as_json.stderr)


@pytest.mark.parametrize("bad", ["file: missing.move.yaml", "file: profiles.move.yaml"])
def test_the_move_job_type_runs_in_a_workflow_after_its_preflight(project: Project, bad: str) -> None:
    profiles_project(project)
    move_file(project, "embedded")
    workflow = project.root / "kv.sch.yaml"
    workflow.write_text(f"id: to_kv\ntype: main\nsteps:\n  - job:\n      id: profiles_to_kv\n      type: move\n      {bad}\n")
    result = towpath("-C", project.root, "workflow", "run", workflow, "--date", "2022-01-01", "--json")
    if bad.endswith("missing.move.yaml"):
        assert result.exit_code == 1 and "move file not found" in (result.stdout + result.stderr)
        assert project.state.kv.versions("profiles") == []
        return
    assert result.exit_code == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    job = next(j for j in out["jobs"] if j["job_id"] == "profiles_to_kv")
    assert job["status"] == "success" and job["details"]["status"] == "published" and job["details"]["keys"] == 4
    version = project.state.kv.version("profiles", 1)
    assert version.run_id == out["run_id"] and version.status == "online"


def test_a_move_takes_the_cpu_serving_leaves_and_children_inherit_it(tmp_path: Path) -> None:
    probe = (
        "import os, subprocess, sys, threading\n"
        "from towpath.cli.move import BATCH_NICENESS, _lower_priority\n"
        "_lower_priority(BATCH_NICENESS)\n"
        "_lower_priority(3)  # never raises the priority back\n"
        "seen = []\n"
        "t = threading.Thread(target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS, 0))); t.start(); t.join()\n"
        "child = subprocess.run([sys.executable, '-c', 'import os; print(os.getpriority(os.PRIO_PROCESS, 0))'],\n"
        "                       capture_output=True, text=True, check=True).stdout.strip()\n"
        "print(os.getpriority(os.PRIO_PROCESS, 0), seen[0], child)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["19", "19", "19"]


def test_a_niceness_beyond_19_is_a_usage_error(project: Project) -> None:
    profiles_project(project)
    result = towpath("-C", project.root, "move", "run", move_file(project, "embedded"), "--nice", "20")
    assert result.exit_code == 2 and "--nice" in result.stderr and "0<=x<=19" in result.stderr
