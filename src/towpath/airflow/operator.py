"""`TowpathWorkflowOperator`: one towpath workflow run (a date, a daily, a backfill) as an Airflow task."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from airflow.exceptions import AirflowException, AirflowFailException
from airflow.models.baseoperator import BaseOperator

from towpath.airflow._command import Bin, TowpathCommandError, check, run_towpath, runs_of, towpath_argv

Command = Literal["run", "daily", "backfill"]
TODAY = "today"
"""`date="today"`: towpath's own today in the workflow's timezone (wall clock), not the DAG run's date."""


class TowpathWorkflowOperator(BaseOperator):  # type: ignore[misc]
    """Run a towpath workflow through the towpath CLI and fail the task exactly when towpath fails.

    `command="run"` runs a main workflow for one date (default: the DAG run's
    logical date in `timezone`), `"daily"` a daily file for that day with its
    lookback days and marks, `"backfill"` a backfill file over `start`..`end`.
    towpath's progress (stderr) streams into the task log as it comes; the
    result's steps and audits are logged at the end and returned as the XCom.

    A failed blocking audit fails the task without retries
    (`AirflowFailException`): nothing was published, and rerunning the same data
    cannot pass. So do spec, SQL and name mistakes. Transient failures (a commit
    conflict, a connector, an internal error) raise `AirflowException`, which the
    task's `retries` retry.

    `towpath_bin` is the towpath executable, typically in its own virtualenv
    (`/opt/towpath/bin/towpath`), so Airflow's and towpath's dependencies never
    have to agree; `env` is added to the worker's environment for the command.
    `verbose` (default) runs `towpath -v`: each step is logged as it starts and
    ends, and an unexpected error's traceback reaches the task log.
    """

    template_fields: Sequence[str] = (
        "workflow", "date", "towpath_params", "start", "end", "force", "parallel", "project_dir",
    )
    ui_color = "#d9ecf2"

    def __init__(
        self,
        *,
        workflow: str,
        command: Command = "run",
        project_dir: str | None = None,
        date: str | None = None,
        timezone: str = "UTC",
        towpath_params: Mapping[str, str] | None = None,
        start: str | None = None,
        end: str | None = None,
        force: bool | str = False,
        parallel: int | str | None = None,
        towpath_bin: Bin = "towpath",
        env: Mapping[str, str] | None = None,
        verbose: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if command not in ("run", "daily", "backfill"):
            raise ValueError(f"command must be 'run', 'daily' or 'backfill', got {command!r}")
        self.workflow, self.command, self.project_dir = workflow, command, project_dir
        self.date, self.timezone = date, timezone
        self.towpath_params = dict(towpath_params or {})
        self.start, self.end, self.force, self.parallel = start, end, force, parallel
        self.towpath_bin, self.env, self.verbose = towpath_bin, dict(env or {}), verbose
        self._proc: subprocess.Popen[str] | None = None

    def argv(self, context: Mapping[str, Any]) -> list[str]:
        """The towpath command this task runs for `context` (its DAG run)."""
        args = ["workflow", self.command, self.workflow]
        for name, value in sorted(self.towpath_params.items()):
            args += ["-p", f"{name}={value}"]
        if self.command == "backfill":
            args += [f"--{name}={value}" for name, value in (("start", self.start), ("end", self.end)) if _given(value)]
            args += ["--force"] if str(self.force).strip().lower() in ("true", "1") else []
            args += [f"--parallel={int(str(self.parallel))}"] if _given(self.parallel) else []
        else:
            day = self.run_date(context)
            if day is not None:
                args += ["--date" if self.command == "run" else "--today", day]
        return towpath_argv(self.towpath_bin, self.project_dir, *args, verbose=self.verbose)

    def run_date(self, context: Mapping[str, Any]) -> str | None:
        """The date towpath runs for: `date`, else the logical date in `timezone`; None for `date="today"`."""
        if self.date == TODAY:
            return None
        if _given(self.date):
            return str(self.date)
        logical = context.get("logical_date") or context.get("execution_date")
        if logical is None:
            raise AirflowFailException("no `date` given and the DAG run has no logical date")
        return str(logical.in_timezone(self.timezone).date().isoformat())

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        argv = self.argv(context)
        self.log.info("running %s", " ".join(argv))
        try:
            done = run_towpath(argv, env=self.env, log=self.log.info, on_start=self._started)
            self._log_result(done.document)
            doc = check(done)
        except TowpathCommandError as exc:
            if exc.retryable:
                raise AirflowException(str(exc)) from None
            raise AirflowFailException(str(exc)) from None
        finally:
            self._proc = None
        return _summary(doc)

    def on_kill(self) -> None:
        """Airflow stops the task: interrupt towpath like Ctrl-C, so it records `interrupted` and drops its branches."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()

    def _started(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc

    def _log_result(self, doc: Any) -> None:
        if not isinstance(doc, Mapping) or "error" in doc and "type" in doc:
            return
        for run in runs_of(doc):
            self.log.info("%s %s: %s (run %s)", run.get("workflow_id"), run.get("execution_date"), run.get("status"),
                          run.get("run_id"))
            for job in run.get("jobs", []):
                rows = f", {job['rows_written']:,} rows" if job.get("rows_written") is not None else ""
                self.log.info("  %s (%s): %s%s", job["job_id"], job["job_type"], job["status"], rows)
                for audit in job.get("audits", []):
                    self.log.info("    %s %s", "passed" if audit["passed"] else "FAILED", audit["message"])
                if job.get("error"):
                    self.log.error("    %s", job["error"])
            for table, snapshot in (run.get("published") or {}).items():
                self.log.info("  published %s at snapshot %s", table, snapshot)


def _given(value: object) -> bool:
    """A templated value that says something ('' and 'None' are what Jinja renders for nothing)."""
    return value is not None and str(value).strip() not in ("", "None")


def _summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The XCom: what downstream tasks read (run ids, dates, published snapshots), not every audit's SQL."""
    keep = ("workflow_id", "status", "execution_date", "today", "start", "end", "succeeded", "failed", "skipped",
            "hwm", "run_id", "published", "warnings")
    summary = {key: doc[key] for key in keep if key in doc}
    summary["runs"] = [
        {key: run.get(key) for key in ("run_id", "execution_date", "status", "published")} for run in runs_of(doc)
    ]
    return summary
