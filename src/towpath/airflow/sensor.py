"""Waiting for a table's high-water mark to advance: a deferrable sensor and the trigger it defers to.

A daily's `trigger: {hwm_of: TABLE}` starts it when TABLE's mark moves. The
sensor frees its worker slot at once: it defers to `TowpathHwmTrigger`, which
the triggerer runs on its event loop, polling `towpath table hwm TABLE --json`
every `poke_interval` seconds in a subprocess (never blocking the loop), and
fires when the mark differs from the one the previous run fired on (the same
test `towpath schedule run` makes: marks only move forward unless a user forces
them back, and either way the daily must run again).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.exceptions import AirflowException, AirflowFailException
from airflow.sensors.base import BaseSensorOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

from towpath.airflow._command import (
    Bin,
    TowpathCommandError,
    check,
    run_towpath,
    run_towpath_async,
    towpath_argv,
)

XCOM_KEY = "hwm"
"""Where the sensor keeps the mark it fired on: the next run waits for a different one."""


def hwm_argv(towpath_bin: Bin, project_dir: str | None, table: str) -> list[str]:
    return towpath_argv(towpath_bin, project_dir, "table", "hwm", table)


class TowpathHwmTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires once `table`'s high-water mark is set and differs from `after` (None: any mark fires)."""

    def __init__(
        self,
        *,
        table: str,
        after: str | None,
        project_dir: str | None = None,
        towpath_bin: Bin = "towpath",
        env: Mapping[str, str] | None = None,
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self.table, self.after, self.project_dir = table, after, project_dir
        self.towpath_bin = towpath_bin if isinstance(towpath_bin, str) else list(towpath_bin)
        self.env, self.poll_interval = dict(env or {}), float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The triggerer rebuilds the trigger from this in its own process (JSON-safe values only)."""
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "table": self.table, "after": self.after, "project_dir": self.project_dir,
            "towpath_bin": self.towpath_bin, "env": self.env, "poll_interval": self.poll_interval,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        argv = hwm_argv(self.towpath_bin, self.project_dir, self.table)
        polls = 0
        while True:
            try:
                mark = check(await run_towpath_async(argv, env=self.env)).get("hwm")
            except TowpathCommandError as exc:
                yield TriggerEvent({"status": "error", "table": self.table, "message": str(exc),
                                    "retryable": exc.retryable})
                return
            polls += 1
            if mark is not None and mark != self.after:
                self.log.info("high-water mark of %s is %s (was %s) after %d polls", self.table, mark, self.after,
                              polls)
                yield TriggerEvent({"status": "advanced", "table": self.table, "hwm": mark, "previous": self.after})
                return
            self.log.info("high-water mark of %s is still %s; next check in %g s", self.table, mark,
                          self.poll_interval)
            await asyncio.sleep(self.poll_interval)


class TowpathHwmSensor(BaseSensorOperator):  # type: ignore[misc]
    """Wait until `table`'s high-water mark advances past the mark the previous DAG run fired on.

    `after` (templated) sets the mark to wait past instead; the first run of a
    DAG, with no earlier mark, fires as soon as the table has one. Deferrable by
    default (`deferrable=False` polls in the worker slot, `mode="poke"`). The
    XCom is the new mark.
    """

    template_fields = ("table", "after", "project_dir")
    ui_color = "#f2e6d9"

    def __init__(
        self,
        *,
        table: str,
        after: str | None = None,
        project_dir: str | None = None,
        towpath_bin: Bin = "towpath",
        env: Mapping[str, str] | None = None,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.table, self.after, self.project_dir = table, after, project_dir
        self.towpath_bin, self.env, self.deferrable = towpath_bin, dict(env or {}), deferrable

    def execute(self, context: Mapping[str, Any]) -> Any:
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=TowpathHwmTrigger(
                table=self.table, after=self.last_mark(context), project_dir=self.project_dir,
                towpath_bin=self.towpath_bin, env=self.env, poll_interval=float(self.poke_interval),
            ),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Mapping[str, Any], event: Mapping[str, Any]) -> str:
        """Back from the trigger: keep the mark for the next run, or fail with towpath's message."""
        if event.get("status") != "advanced":
            error = AirflowException if event.get("retryable") else AirflowFailException
            raise error(f"cannot read the high-water mark of {self.table}: {event.get('message')}")
        context["ti"].xcom_push(key=XCOM_KEY, value=event["hwm"])
        return str(event["hwm"])

    def poke(self, context: Mapping[str, Any]) -> bool:
        """The non-deferrable check, in the worker: has the mark moved past the last run's?"""
        try:
            mark = check(run_towpath(hwm_argv(self.towpath_bin, self.project_dir, self.table), env=self.env)).get("hwm")
        except TowpathCommandError as exc:
            raise (AirflowException if exc.retryable else AirflowFailException)(str(exc)) from None
        if mark is None or mark == self.last_mark(context):
            return False
        context["ti"].xcom_push(key=XCOM_KEY, value=mark)
        return True

    def last_mark(self, context: Mapping[str, Any]) -> str | None:
        """`after`, else the mark this sensor fired on in the newest earlier run of the DAG."""
        if self.after:
            return str(self.after)
        mark = context["ti"].xcom_pull(task_ids=self.task_id, key=XCOM_KEY, include_prior_dates=True)
        return str(mark) if mark else None
