"""`towpath schedule export`: the schedule files as data, read exactly as the scheduler reads them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from towpath.cli.main import cli
from towpath.project import Project


def export(project: Project, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(project.root), "schedule", "export", *args])
    return result.exit_code, result.output


def write(root: Path, name: str, text: str) -> Path:
    (root / name).write_text(text)
    return root / name


def test_every_daily_and_backfill_is_exported_with_its_schedule(project: Project) -> None:
    write(project.root, "main.sch.yaml", "id: m\nsteps:\n  - job: {id: a, type: sql, sql: SELECT 1}\n")
    write(project.root, "daily.sch.yaml", 'id: d\ntype: daily\nworkflow: main.sch.yaml\nschedule: "0 6 * * *"\n'
                                          "lookback_days: 2\ntrigger: {hwm_of: raw.events}\nhwm: [mart.t]\n")
    (project.root / "sub").mkdir()
    write(project.root / "sub", "bf.sch.yaml", "id: b\ntype: backfill\nworkflow: ../main.sch.yaml\nstart: 2024-01-01\n"
                                               "end: 2024-01-31\nparallel: 3\nparams: {X: '1'}\n")

    code, out = export(project, "--json")

    assert code == 0
    daily, backfill = sorted(json.loads(out), key=lambda s: s["type"], reverse=True)
    assert daily == {
        "id": "d", "type": "daily", "file": str(project.root / "daily.sch.yaml"),
        "workflow": str(project.root / "main.sch.yaml"), "workflow_id": "m", "description": None, "owner": None,
        "params": {}, "schedule": "0 6 * * *", "timezone": project.config.timezone, "lookback_days": 2,
        "trigger": {"hwm_of": "raw.events"}, "hwm": ["mart.t"],
    }
    assert (backfill["id"], backfill["start"], backfill["end"], backfill["parallel"]) == ("b", "2024-01-01",
                                                                                          "2024-01-31", 3)
    assert backfill["workflow"] == str(project.root / "main.sch.yaml") and backfill["params"] == {"X": "1"}
    code, text = export(project)
    assert code == 0 and "0 6 * * *" in text and "raw.events" in text and "2024-01-01 to" in text


def test_broken_files_are_reported_each_at_its_line_and_nothing_is_exported(project: Project) -> None:
    write(project.root, "main.sch.yaml", "id: m\nsteps:\n  - job: {id: a, type: sql, sql: SELECT 1}\n")
    write(project.root, "good.sch.yaml", 'id: g\ntype: daily\nworkflow: main.sch.yaml\nschedule: "0 6 * * *"\n')
    write(project.root, "cron.sch.yaml", 'id: c\ntype: daily\nworkflow: main.sch.yaml\nschedule: "0 6 * *"\n')
    write(project.root, "missing.sch.yaml", "id: x\ntype: daily\nworkflow: nope.sch.yaml\nschedule: '@daily'\n")

    code, out = export(project, "--json")

    assert code == 1
    error = json.loads(out)
    assert error["type"] == "SpecErrors"
    messages = [e["error"] for e in error["errors"]]
    assert any(m.startswith(f"{project.root}/cron.sch.yaml:4:1: schedule: invalid cron expression") for m in messages)
    assert any("nope.sch.yaml" in m for m in messages) and len(messages) == 2
    code, text = export(project)
    assert code == 1 and text.startswith("error: ") and "Traceback" not in text


def test_a_project_without_schedules_says_so(project: Project) -> None:
    code, out = export(project)
    assert code == 0 and "no daily or backfill workflow" in out
    assert export(project, "--json") == (0, "[]\n")
