"""Output a user can copy from: at 80 columns and in a pipe, ids come out whole and without ANSI codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import towpath, towpath_process

DATES = ("2022-01-01", "2022-01-02")


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose spark-sql sample ran for two dates: runs, snapshots with parents, a mark."""
    from towpath.project import Project
    from towpath.samples import load_source_table, recipe_path

    project = Project.init(tmp_path_factory.mktemp("ran") / "proj", name="ran")
    shutil.copytree(recipe_path("spark-sql"), project.root / "sample")
    load_source_table(project, dates=list(DATES), rows_per_day=5_000)
    for date in DATES:
        assert project.run(project.root / "sample" / "main.sch.yaml", date=date).ok
    return project.root


def _json(root: Path, *args: str) -> Any:
    result = towpath("-C", root, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_table_keeps_its_ids_whole_at_80_columns_in_a_pipe(ran: Path) -> None:
    runs = _json(ran, "runs", "list")
    tables = _json(ran, "table", "list")
    target = next(t["table"] for t in tables if t["table"].endswith("_results"))
    history = _json(ran, "table", "history", target)
    snapshots = [str(s["snapshot_id"]) for s in history]
    assert len(snapshots) >= 2 and history[0]["parent_id"] is not None
    expected = {
        ("runs", "list"): [r["run_id"] for r in runs],
        ("runs", "show", runs[0]["run_id"]): [runs[0]["run_id"], snapshots[0], target],
        ("table", "list"): [t["table"] for t in tables] + [str(t["snapshot"]) for t in tables],
        ("table", "history", target): snapshots,
        ("table", "show", target): [target, snapshots[0]],
        ("sample", "recipes"): ["spark-sql", "pyspark", "sparklyr"],
        ("workflow", "run", str(ran / "sample" / "main.sch.yaml"), "--date", DATES[1]): [],
    }
    for command, ids in expected.items():
        shown = towpath_process("-C", ran, *command, env={"COLUMNS": "80"})
        assert shown.returncode == 0, shown.stderr
        assert "\x1b[" not in shown.stdout + shown.stderr, command  # no ANSI codes when not a terminal
        assert max(len(line) for line in shown.stdout.splitlines()) <= 80, command
        if command[0] == "workflow":
            ids = [_json(ran, "runs", "list")[0]["run_id"]]
        for id_ in ids:
            assert id_ in shown.stdout, f"{id_} is cut or wrapped in `towpath {' '.join(command)}`:\n{shown.stdout}"


NO_JSON = {"workflow schema": "prints JSON Schema already", "schedule run": "a long-running loop",
           "kv serve": "a long-running server", "ui": "a long-running server (its pages answer JSON themselves)"}
"""The only commands without `--json`, and why."""


def test_every_command_a_script_reads_has_json() -> None:
    import click

    from towpath.cli.main import cli

    ctx = click.Context(cli)
    missing = []
    for group_name in cli.list_commands(ctx):
        group = cli.get_command(ctx, group_name)
        assert group is not None
        commands = list(group.commands.items()) if isinstance(group, click.Group) else [("", group)]  # `query`
        for name, sub in list(commands):
            if isinstance(sub, click.Group):  # a nested group (`project env`): its commands print, it does not
                commands.remove((name, sub))
                commands.extend((f"{name} {n}", c) for n, c in sub.commands.items())
        for name, command in commands:
            has_json = any("--json" in p.opts for p in command.params)
            if not has_json and f"{group_name} {name}".strip() not in NO_JSON:
                missing.append(f"{group_name} {name}".strip())
    assert missing == []


def test_listings_print_json(ran: Path) -> None:
    run = _json(ran, "runs", "list")[0]
    assert run["status"] == "success" and run["kind"] == "main"
    detail = _json(ran, "runs", "show", run["run_id"])
    assert [j["job_id"] for j in detail["jobs"]][-1] == "hwm"
    table = next(t for t in _json(ran, "table", "list") if t["table"].endswith("_results"))
    assert _json(ran, "table", "hwm", table["table"])["hwm"].startswith(DATES[-1])
    assert _json(ran, "table", "show", table["table"])["identifier"] == table["table"]
    assert {r["recipe"] for r in _json(ran, "sample", "recipes")} >= {"sql", "spark-sql", "python", "pyspark"}
    assert _json(ran, "project", "validate") == {"ok": True, "problems": []}
    plan = _json(ran, "workflow", "run", str(ran / "sample" / "main.sch.yaml"), "--date", DATES[0], "--dry-run")
    assert [s["step_id"] for s in plan["steps"]][-1] == "hwm"
