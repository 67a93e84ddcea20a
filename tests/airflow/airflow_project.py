"""The towpath project the Airflow tests run, and the driver that runs its DAGs inside Airflow's venv.

The tests run in towpath's venv; Airflow runs in another (`airflow_venv.py`) with only
`src/` on its PYTHONPATH, so `towpath.airflow` there can import Airflow and the
standard library and nothing else of towpath's: every towpath action of the
generated DAGs goes through the `towpath` executable of this venv, as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from airflow_venv import AirflowVenv, airflow_env

from towpath.project import Project

SRC = Path(__file__).resolve().parents[2] / "src"
DRIVER = Path(__file__).with_name("dag_driver.py")
TOWPATH_BIN = [str(Path(sys.executable).with_name("towpath"))]
RunDags = Callable[..., dict[str, Any]]
"""The `run_dags` fixture: `run_dags(project_dir, runs=[...], towpath_bin=[...], factory={...})`."""
BAD_DAY = "2024-01-03"
"""The source day holding an event without a kind: the audit fails and nothing is published."""

MAIN = """\
id: event_counts
description: Events per kind and day.
steps:
  - job:
      id: ddl
      type: sql
      sql: CREATE TABLE IF NOT EXISTS mart.event_counts (kind STRING, n BIGINT) PARTITIONED BY (date DATE)
  - template:
      id: wap
      tables: [mart.event_counts]
      write_jobs:
        - job:
            id: count
            type: sql
            target: mart.event_counts
            sql: SELECT kind, COUNT(*) AS n, date FROM raw.events WHERE date = DATE '${DATE}' GROUP BY kind, date
      audits:
        - function: columns_should_not_have_nulls
          params: {columns: [kind], where: "date = DATE '${DATE}'"}
  - job: {id: hwm, type: hwm, table: mart.event_counts}
"""

SCHEDULES = {
    "daily.sch.yaml": 'id: event_counts_daily\ntype: daily\nworkflow: main.sch.yaml\nschedule: "0 6 * * *"\n'
                      "timezone: UTC\nowner: data-eng@example.com\n",
    "on_raw.sch.yaml": "id: event_counts_on_raw\ntype: daily\nworkflow: main.sch.yaml\n"
                       "trigger: {hwm_of: raw.events}\ntimezone: UTC\n",
    "both.sch.yaml": 'id: event_counts_both\ntype: daily\nworkflow: main.sch.yaml\nschedule: "30 7 * * 1"\n'
                     "timezone: Europe/Paris\ntrigger: {hwm_of: raw.events}\n",
    "backfill.sch.yaml": "id: event_counts_backfill\ntype: backfill\nworkflow: main.sch.yaml\n"
                         "start: 2024-01-01\nend: 2024-01-02\nparallel: 2\n",
}


def build_project(root: Path, days: list[dt.date]) -> Project:
    """A project with `raw.events` (5 events on each day; one without a kind on BAD_DAY), the main
    workflow counting them per kind into `mart.event_counts` under an audit, and the schedule files."""
    from towpath.catalog.ddl import apply_ddl

    project = Project.init(root, name="airflow_test")
    (root / "main.sch.yaml").write_text(MAIN)
    for name, text in SCHEDULES.items():
        (root / name).write_text(text)
    apply_ddl(project.catalog, "CREATE TABLE raw.events (id BIGINT, kind STRING) PARTITIONED BY (date DATE)")
    dates = [day for day in days for _ in range(5)]
    kinds = [None if day.isoformat() == BAD_DAY and n == 0 else "ab"[n % 2] for day in days for n in range(5)]
    events = pa.table({"id": pa.array(range(len(dates)), pa.int64()), "kind": pa.array(kinds, pa.string()),
                       "date": pa.array(dates, pa.date32())})
    project.catalog.write("raw.events", events, "append")
    project.set_hwm("raw.events", "2024-01-02")
    return project


def drive(venv: AirflowVenv, home: Path, project_dir: Path, *, runs: list[dict[str, Any]] | None = None,
          towpath_bin: list[str] | None = None, factory: dict[str, Any] | None = None,
          kill: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `dag_driver.py` in the Airflow venv (a fresh Airflow home under `home`) over a project."""
    (home / "dags").mkdir(parents=True)
    shutil.copy(venv.template_db, home / "airflow.db")
    out = home / "out.json"
    spec = {"out": str(out), "project": str(project_dir), "towpath_bin": towpath_bin or TOWPATH_BIN,
            "env": {"TOWPATH_WORKER": "off", "PYTHONPATH": str(SRC)}, "runs": runs or [], "factory": factory or {},
            "kill": kill}
    env = {**airflow_env(home, home / "airflow.db"), "PYTHONPATH": str(SRC)}
    done = subprocess.run([str(venv.python), str(DRIVER), json.dumps(spec)], env=env, capture_output=True, check=False,
                          text=True, timeout=300)
    (home / "task-log.txt").write_text(done.stdout + done.stderr)  # Airflow's own output, for a reviewer
    assert done.returncode == 0 and out.exists(), f"the DAG driver failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return dict(json.loads(out.read_text()))


