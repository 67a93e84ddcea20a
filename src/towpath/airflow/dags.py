"""`dags_from_project`: the project's daily and backfill files as Airflow DAGs.

The files are read by towpath itself (`towpath schedule export --json`, the
loader `towpath schedule run` uses), so a DAG never disagrees with the
scheduler and a broken file is towpath's own file:line error, which Airflow
shows as the DAG file's import error. What becomes what:

- a daily with a `schedule`: a DAG on `CronTriggerTimetable(schedule, timezone)`,
  so a run's logical date is its cron tick, as in `towpath schedule run`; its
  one task runs `towpath workflow daily FILE --today <tick's date>` (the
  lookback days and the marks stay towpath's). `catchup=True` fires every
  missed tick (the scheduler's `--catchup all`), `False` only the newest
  (`latest`);
- a daily with `trigger: {hwm_of: TABLE}`: a `@continuous` DAG (one run at a
  time) whose deferrable `TowpathHwmSensor` waits for TABLE's mark to move,
  then runs the daily for today (named `<id>__hwm` when the daily has a
  `schedule` too);
- a backfill: a DAG run on demand (`schedule=None`) whose params `start`, `end`,
  `force` and `parallel` default to the file's, running `towpath workflow
  backfill` (dates skipped when done, marks set once at the end, as towpath does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.models.dag import DAG
from airflow.models.param import Param
from airflow.timetables.trigger import CronTriggerTimetable

from towpath.airflow._command import Bin, TowpathCommandError, check, run_towpath, towpath_argv
from towpath.airflow.operator import TODAY, TowpathWorkflowOperator
from towpath.airflow.sensor import TowpathHwmSensor
from towpath.errors import TowpathError

EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
"""Default `start_date`: with `catchup=False` only the newest tick runs, so it only has to be in the past."""


class ScheduleExportError(TowpathError):
    """The project's schedule files could not be read; towpath's message names each file:line."""


def export(project_dir: str | Path, towpath_bin: Bin = "towpath", env: Mapping[str, str] | None = None) -> Any:
    """`towpath schedule export --json` of the project: one entry per daily and backfill file."""
    try:
        return check(run_towpath(towpath_argv(towpath_bin, str(project_dir), "schedule", "export"), env=env))
    except TowpathCommandError as exc:
        raise ScheduleExportError(f"towpath project {project_dir}: {exc}") from None


def dags_from_project(
    project_dir: str | Path,
    *,
    towpath_bin: Bin = "towpath",
    env: Mapping[str, str] | None = None,
    start_date: dt.datetime | None = None,
    catchup: bool = False,
    retries: int = 2,
    retry_delay: dt.timedelta = dt.timedelta(minutes=5),
    poke_interval: float = 60.0,
    sensor_timeout: dt.timedelta = dt.timedelta(days=7),
    tags: Sequence[str] = ("towpath",),
    default_args: Mapping[str, Any] | None = None,
    dag_id_prefix: str = "",
) -> dict[str, DAG]:
    """One DAG per daily and backfill file of the project at `project_dir`, by DAG id.

    Put the result in a DAG file's globals so Airflow finds them:
    `globals().update(dags_from_project("/srv/etl", towpath_bin="/opt/towpath/bin/towpath"))`.
    `retries`/`retry_delay` apply to every task (towpath's failed audits and
    spec errors are never retried, see `TowpathWorkflowOperator`);
    `default_args` adds any other task default (`owner`, `pool`, `sla`, ...).
    """
    if catchup and start_date is None:
        raise ValueError("catchup=True fires every tick since start_date: give start_date explicitly")
    project = str(Path(project_dir).resolve())
    common: dict[str, Any] = {"project_dir": project, "towpath_bin": towpath_bin, "env": dict(env or {})}
    base_args = {"retries": retries, "retry_delay": retry_delay, **(default_args or {})}
    dags: dict[str, DAG] = {}
    for entry in export(project, towpath_bin, env):
        args = {"owner": entry.get("owner") or "towpath", **base_args}
        dag_id = dag_id_prefix + entry["id"]
        doc = _doc(entry)
        if entry["type"] == "backfill":
            dags[dag_id] = _backfill_dag(dag_id, entry, args, doc, tags, common)
            continue
        if entry["schedule"]:
            with DAG(
                dag_id, schedule=CronTriggerTimetable(entry["schedule"], timezone=entry["timezone"]),
                start_date=start_date or EPOCH, catchup=catchup, max_active_runs=1, default_args=args,
                doc_md=doc, description=entry.get("description"), tags=[*tags, "daily"],
            ) as dag:
                TowpathWorkflowOperator(task_id="daily", workflow=entry["file"], command="daily",
                                        timezone=entry["timezone"], **common)
            dags[dag_id] = dag
        if entry["trigger"]:
            table = entry["trigger"]["hwm_of"]
            hwm_id = f"{dag_id}__hwm" if entry["schedule"] else dag_id
            with DAG(
                hwm_id, schedule="@continuous", start_date=start_date or EPOCH, catchup=False, max_active_runs=1,
                default_args=args, doc_md=doc, description=entry.get("description"),
                tags=[*tags, "daily", "hwm"],
            ) as dag:
                wait = TowpathHwmSensor(task_id="wait_for_hwm", table=table, poke_interval=poke_interval,
                                        timeout=sensor_timeout.total_seconds(), retries=0, **common)
                run = TowpathWorkflowOperator(task_id="daily", workflow=entry["file"], command="daily",
                                              date=TODAY, timezone=entry["timezone"], **common)
                wait >> run
            dags[hwm_id] = dag
    return dags


def _backfill_dag(
    dag_id: str, entry: Mapping[str, Any], args: Mapping[str, Any], doc: str, tags: Sequence[str],
    common: Mapping[str, Any],
) -> DAG:
    params = {
        "start": Param(entry["start"], type=["null", "string"], format="date", description="First date (inclusive)"),
        "end": Param(entry["end"], type=["null", "string"], format="date", description="Last date (inclusive)"),
        "force": Param(False, type="boolean", description="Rerun dates that already succeeded"),
        "parallel": Param(entry["parallel"], type="integer", minimum=1, description="Dates run at the same time"),
    }
    with DAG(
        dag_id, schedule=None, start_date=EPOCH, catchup=False, default_args=dict(args), params=params,
        doc_md=doc, description=entry.get("description"), tags=[*tags, "backfill"],
    ) as dag:
        TowpathWorkflowOperator(
            task_id="backfill", workflow=entry["file"], command="backfill", start="{{ params.start }}",
            end="{{ params.end }}", force="{{ params.force }}", parallel="{{ params.parallel }}", **common,
        )
    return dag


def _doc(entry: Mapping[str, Any]) -> str:
    """The DAG's page in Airflow: what towpath file it comes from and how it runs."""
    lines = [f"**towpath {entry['type']}** `{entry['id']}` from `{entry['file']}`, running `{entry['workflow']}`."]
    if entry.get("description"):
        lines.append(str(entry["description"]))
    if entry["type"] == "daily":
        if entry["schedule"]:
            lines.append(f"Schedule `{entry['schedule']}` ({entry['timezone']}), lookback {entry['lookback_days']} days.")
        if entry["trigger"]:
            lines.append(f"Also runs when the high-water mark of `{entry['trigger']['hwm_of']}` advances.")
        if entry["hwm"]:
            lines.append(f"Sets the marks of {', '.join(f'`{t}`' for t in entry['hwm'])}.")
    return "\n\n".join(lines)
