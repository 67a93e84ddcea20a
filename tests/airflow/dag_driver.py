"""Runs INSIDE the Airflow virtualenv (not towpath's): builds a towpath project's DAGs and runs them with dag.test().

Input: one JSON argument {"out", "project", "towpath_bin", "env", "runs": [{"dag", "date", "move_mark": {...}}]}.
Output: one JSON document written to `out` (stdout is Airflow's task log): the DAGs built and, per run, the DAG run's and each task's state,
the tasks' XComs, and the log lines Airflow wrote. Only Airflow and `towpath.airflow` are importable
here; every towpath action goes through `towpath_bin`, as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
from typing import Any


class Capture(logging.Handler):
    """Every log record of the process, and an event set when a record contains `waiting_for`."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.waiting_for: str | None = None
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f"\n{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        self.lines.append(f"{record.name}: {text}")
        if self.waiting_for and self.waiting_for in text:
            self.seen.set()


def trigger_round_trip(sensor: Any) -> bool:
    """The triggerer rebuilds a trigger from `serialize()` in another process: it must give the same trigger."""
    from airflow.utils.module_loading import import_string

    from towpath.airflow import TowpathHwmTrigger

    trigger = TowpathHwmTrigger(table=sensor.table, after="2024-01-01T00:00:00+00:00", project_dir=sensor.project_dir,
                                towpath_bin=sensor.towpath_bin, env=sensor.env, poll_interval=sensor.poke_interval)
    path, kwargs = trigger.serialize()
    rebuilt = import_string(path)(**json.loads(json.dumps(kwargs)))
    return bool(rebuilt.serialize() == (path, kwargs))


def describe(dag: Any) -> dict[str, Any]:
    sensors = [t for t in dag.tasks if type(t).__name__ == "TowpathHwmSensor"]
    return {
        "trigger_round_trip": [trigger_round_trip(s) for s in sensors],
        "schedule": str(dag.timetable.summary), "timetable": type(dag.timetable).__name__,
        "timezone": str(getattr(dag.timetable, "_timezone", "")),
        "catchup": dag.catchup, "max_active_runs": dag.max_active_runs, "tags": sorted(dag.tags),
        "owner": dag.owner, "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "tasks": {t.task_id: {"type": type(t).__name__, "retries": t.retries, "deferrable": getattr(t, "deferrable", None),
                              "upstream": sorted(t.upstream_task_ids)} for t in dag.tasks},
        "params": {k: dag.params[k] for k in dag.params},
    }


def move_mark_later(capture: Capture, towpath_bin: list[str], project: str, table: str, value: str,
                    env: dict[str, str]) -> threading.Thread:
    """Once the trigger has polled and found no new mark, move the mark like an upstream writer would."""

    def move() -> None:
        if capture.seen.wait(120):
            subprocess.run([*towpath_bin, "-C", project, "table", "hwm", table, "--set", value], check=True,
                           env=env, stdout=subprocess.DEVNULL)
    capture.waiting_for = f"high-water mark of {table} is still"
    capture.seen.clear()
    thread = threading.Thread(target=move, daemon=True)
    thread.start()
    return thread


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    from towpath.airflow import dags_from_project  # imports Airflow, which configures logging: capture after

    capture = Capture()
    logging.getLogger().addHandler(capture)

    out: dict[str, Any] = {"runs": []}
    try:
        factory = {"retries": 0, "poke_interval": 0.2, **spec.get("factory", {})}
        if "retry_delay_s" in factory:
            factory["retry_delay"] = dt.timedelta(seconds=factory.pop("retry_delay_s"))
        dags = dags_from_project(spec["project"], towpath_bin=spec["towpath_bin"], env=spec["env"], **factory)
    except Exception as exc:  # noqa: BLE001 - what Airflow shows as the DAG file's import error, asserted by the tests
        out["import_error"] = f"{type(exc).__name__}: {exc}"
        return write(spec["out"], out)
    out["dags"] = {dag_id: describe(dag) for dag_id, dag in dags.items()}
    env = {**os.environ, **spec["env"]}
    for run in spec.get("runs", []):
        dag = dags[run["dag"]]
        mover = None
        if run.get("move_mark"):
            mark = run["move_mark"]
            mover = move_mark_later(capture, spec["towpath_bin"], spec["project"], mark["table"], mark["to"], env)
        start = len(capture.lines)
        dr = dag.test(execution_date=dt.datetime.fromisoformat(run["date"]), run_conf=run.get("conf"))
        if mover:
            mover.join(5)
        tasks = {}
        for ti in dr.get_task_instances():
            tasks[ti.task_id] = {"state": ti.state, "try_number": ti.try_number,
                                 "xcom": ti.xcom_pull(task_ids=ti.task_id),
                                 "hwm": ti.xcom_pull(task_ids=ti.task_id, key="hwm")}
        out["runs"].append({"dag": run["dag"], "state": dr.state, "tasks": tasks,
                            "logical_date": dr.logical_date.isoformat(), "log": capture.lines[start:]})
    if spec.get("kill"):
        out["kill"] = kill_mid_run(capture, spec, **spec["kill"])
    return write(spec["out"], out)


def kill_mid_run(capture: Capture, spec: dict[str, Any], workflow: str, date: str, after: str) -> dict[str, Any]:
    """Run the operator on `workflow` and kill the task (Airflow's `on_kill`) once towpath logged `after`."""
    from towpath.airflow import TowpathWorkflowOperator

    op = TowpathWorkflowOperator(task_id="killed", workflow=workflow, date=date, project_dir=spec["project"],
                                 towpath_bin=spec["towpath_bin"], env=spec["env"])
    capture.waiting_for = after
    capture.seen.clear()
    killer = threading.Thread(target=lambda: capture.seen.wait(120) and op.on_kill(), daemon=True)
    killer.start()
    try:
        op.execute({})  # in this (the main) thread: Airflow's execute guard is per thread
    except Exception as exc:  # noqa: BLE001 - the error the task fails with, asserted by the test
        return {"error": f"{type(exc).__name__}: {exc}", "killed": capture.seen.is_set()}
    return {"error": None, "killed": capture.seen.is_set()}


def write(path: str, out: dict[str, Any]) -> int:
    with open(path, "w") as f:
        json.dump(out, f, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
