"""`StateStore`: workflow runs, job runs and audit results, plus the ledgers of the other rooms.

Every run records the pid and host of its process and a heartbeat the process
refreshes while the run is open. A run whose process died (kill -9, OOM, power
loss) cannot mark itself finished, so every read of runs first reconciles:
a `running` run whose process is gone (same host) or whose heartbeat is older
than `STALE_AFTER` (any host) becomes `killed`, with its open job runs.
Timestamps are UTC ISO-8601 strings; dicts are JSON columns.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from towpath.state import _schema as t
from towpath.state._db import Database, now, pid_alive
from towpath.state.errors import RunNotFoundError, StateError
from towpath.state.ledgers import (
    AlertLedger,
    ChartLedger,
    DeploymentLedger,
    KvLedger,
    LeaseLedger,
    LineageLedger,
    MigrationLedger,
    OffsetLedger,
    StagingLedger,
)
from towpath.state.records import DateStatus, JobRecord, RecordedAudit, RunDetail, RunRecord
from towpath.status import Status

if TYPE_CHECKING:
    from towpath.audits import AuditResult

HEARTBEAT_S = 30.0
"""How often a process refreshes the heartbeat of its open runs."""
STALE_AFTER = dt.timedelta(minutes=10)
"""A run whose heartbeat is older than this is dead, whatever its pid says (pid reuse, another host)."""

# The writes every run and job makes, built once and executed with their values as parameters:
# SQLAlchemy then reuses the compiled statement, where `.values(...)` would coerce each value into
# a new statement and compute its cache key (0.1-0.25 ms of each of the ~20 writes of a seed run).
_INSERT_RUN = sa.insert(t.runs)
_FINISH_RUN = sa.update(t.runs).where(t.runs.c.run_id == sa.bindparam("the_run_id"))
_RUN_EXISTS = sa.select(t.runs.c.run_id).where(t.runs.c.run_id == sa.bindparam("the_run_id"))
_INSERT_JOB = sa.insert(t.jobs)
_FINISH_JOB = sa.update(t.jobs).where(t.jobs.c.id == sa.bindparam("job_run_id"))


def new_run_id(at: dt.datetime | None = None) -> str:
    """A fresh run id, `YYYYMMDDTHHMMSS-xxxxxx` (sortable by start).

    The runner allocates it before loading the workflow, so `${RUN_ID}` resolves
    like every other built-in; `start_run(run_id=...)` records it.
    """
    return f"{at or now():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


class StateStore:
    """Everything towpath remembers besides tables; safe for several processes at once.

    `location` is a file path (SQLite, the default) or a SQLAlchemy URL
    (`postgresql://user:password@host/db`). The schema is migrated on open.
    """

    def __init__(
        self, location: Path | str, *, timeout_s: float = 30.0, heartbeat_s: float = HEARTBEAT_S,
        env: str | None = None,
    ) -> None:
        self.db = Database(location, timeout_s=timeout_s)
        self.env = env
        """The environment whose runs this store records and reads (None: production); see
        `towpath.catalog.environments`. A backfill in an environment skips only the dates that environment ran."""
        self.heartbeat_s = heartbeat_s
        self.host = socket.gethostname()
        self.stagings = StagingLedger(self.db)
        self.kv = KvLedger(self.db)
        self.offsets = OffsetLedger(self.db)
        self.alerts = AlertLedger(self.db)
        self.migrations = MigrationLedger(self.db)
        self.lineage = LineageLedger(self.db)
        self.leases = LeaseLedger(self.db)
        self.charts = ChartLedger(self.db)
        self.deployments = DeploymentLedger(self.db)
        self._open_runs: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None

    @property
    def location(self) -> str:
        return self.db.where

    # -- runs -------------------------------------------------------------------------------------

    def start_run(
        self,
        workflow_id: str,
        *,
        kind: str = "main",
        params: Mapping[str, str] | None = None,
        execution_date: str | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
        workflow_path: str | None = None,
        graph: Mapping[str, Sequence[str]] | None = None,
    ) -> str:
        """Record a run as `running` by this process; returns its id (`new_run_id()`, unless the caller allocated one).

        `workflow_path` (the file that ran) and `graph` (step id -> the step ids it waits for) let a
        reader draw the run's step graph and rerun a date without finding the file again.
        """
        started = now()
        given = run_id
        while True:
            run_id = given or new_run_id(started)
            try:
                with self.db.write() as conn:
                    conn.execute(_INSERT_RUN, {
                        "run_id": run_id, "workflow_id": workflow_id, "kind": kind, "status": Status.RUNNING.value,
                        "execution_date": execution_date, "params": json.dumps(dict(params or {}), sort_keys=True),
                        "started_at": started.isoformat(), "parent_run_id": parent_run_id, "pid": os.getpid(),
                        "host": self.host, "heartbeat_at": started.isoformat(), "workflow_path": workflow_path,
                        "env": self.env,
                        "graph": None if graph is None else json.dumps({k: list(v) for k, v in graph.items()}),
                    })
            except sa.exc.IntegrityError:  # 1 in 16 million in the same second: draw again
                if given:
                    raise StateError(f"run id '{given}' is already recorded") from None
                continue
            self._keep_alive(run_id)
            return run_id

    def finish_run(self, run_id: str, status: Status | str, *, error: str | None = None) -> None:
        """Set a run's final status (and error); `running` reopens it."""
        status = _status(status)
        with self.db.write() as conn:
            updated = conn.execute(_FINISH_RUN, {
                "the_run_id": run_id, "status": status.value,
                "finished_at": now().isoformat() if status.finished else None, "error": error,
            }).rowcount
        if not updated:
            raise RunNotFoundError(run_id, self._recent_ids())
        with self._lock:
            self._open_runs.discard(run_id)

    def beat(self) -> None:
        """Refresh the heartbeat of every run this process has open (the heartbeat thread calls it)."""
        with self._lock:
            open_runs = list(self._open_runs)
        if open_runs:
            with self.db.write() as conn:
                conn.execute(
                    sa.update(t.runs).where(t.runs.c.run_id.in_(open_runs), t.runs.c.status == Status.RUNNING.value)
                    .values(heartbeat_at=now().isoformat())
                )

    def reconcile(self, *, at: dt.datetime | None = None) -> list[str]:
        """Mark `running` runs whose process is gone as `killed` (with their open jobs); returns their ids."""
        at = at or now()
        with self.db.read() as conn:
            candidates = conn.execute(
                sa.select(t.runs.c.run_id, t.runs.c.pid, t.runs.c.host, t.runs.c.heartbeat_at, t.runs.c.started_at)
                .where(t.runs.c.status == Status.RUNNING.value)
            ).all()
        dead = [(row.run_id, self._death(row, at)) for row in candidates]
        dead = [(run_id, why) for run_id, why in dead if why]
        if not dead:
            return []
        with self.db.write() as conn:
            for run_id, why in dead:
                conn.execute(
                    sa.update(t.runs).where(t.runs.c.run_id == run_id, t.runs.c.status == Status.RUNNING.value)
                    .values(status=Status.KILLED.value, finished_at=at.isoformat(), error=why)
                )
                conn.execute(
                    sa.update(t.jobs).where(t.jobs.c.run_id == run_id, t.jobs.c.status == Status.RUNNING.value)
                    .values(status=Status.KILLED.value, finished_at=at.isoformat(), error=why)
                )
        return [run_id for run_id, _ in dead]

    def run_status(self, run_id: str) -> Status | None:
        """A run's status after reconciliation (None for an id the store does not know)."""
        self.reconcile()
        with self.db.read() as conn:
            status = conn.execute(sa.select(t.runs.c.status).where(t.runs.c.run_id == run_id)).scalar()
        return Status(status) if status is not None else None

    # -- jobs and audits --------------------------------------------------------------------------

    def start_job(
        self, run_id: str, job_id: str, job_type: str, *, parent_job: int | None = None, attempt: int | None = None
    ) -> int:
        """Record a job of a run as `running`; returns the job run's id.

        An unknown run is found by the jobs table's foreign key, not by a query before every insert.
        """
        try:
            with self.db.write() as conn:
                inserted = conn.execute(_INSERT_JOB, {
                    "run_id": run_id, "job_id": job_id, "job_type": job_type, "status": Status.RUNNING.value,
                    "started_at": now().isoformat(), "parent_job": parent_job, "attempt": attempt,
                })
                return int(inserted.inserted_primary_key[0])  # type: ignore[index]
        except sa.exc.IntegrityError:
            with self.db.read() as conn:
                known = conn.execute(_RUN_EXISTS, {"the_run_id": run_id}).first() is not None
            if known:
                raise
            raise RunNotFoundError(run_id, self._recent_ids()) from None

    def finish_job(
        self,
        job_run_id: int,
        status: Status | str,
        *,
        rows_written: int | None = None,
        snapshots: Mapping[str, int] | None = None,
        error: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        status = _status(status)
        with self.db.write() as conn:
            updated = conn.execute(_FINISH_JOB, {
                "job_run_id": job_run_id, "status": status.value,
                "finished_at": now().isoformat() if status.finished else None,
                "rows_written": rows_written, "snapshots": json.dumps(dict(snapshots or {}), sort_keys=True),
                "error": error, "details": json.dumps(dict(details or {}), default=str),
            }).rowcount
        if not updated:
            raise StateError(f"No job run {job_run_id} is recorded; start_job() returns the id to finish")

    def record_audits(
        self, run_id: str, job_id: str, results: Sequence[AuditResult], *, attempt: int | None = None
    ) -> None:
        """Store a job's `towpath.audits.AuditResult`s in one transaction (a WAP template records each attempt's)."""
        if not results:
            return
        stamp = now().isoformat()
        rows = [
            {
                "run_id": run_id, "job_id": job_id, "name": r.name, "function": r.function, "table_name": r.table,
                "blocking": int(r.blocking), "passed": int(r.passed), "failing_rows": int(r.failing_rows),
                "sample": json.dumps(r.sample, default=str), "message": r.message, "sql": r.sql, "attempt": attempt,
                "recorded_at": stamp,
            }
            for r in results
        ]
        with self.db.write() as conn:
            conn.execute(sa.insert(t.audits), rows)

    # -- reading ----------------------------------------------------------------------------------

    def list_runs(
        self,
        *,
        limit: int = 20,
        workflow_id: str | None = None,
        status: Status | str | None = None,
        kind: str | None = None,
        parent_run_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs, newest first, filtered by any of the given fields (dead processes reconciled first).

        `since`/`until` bound the execution date (ISO dates, both inclusive); `offset` skips that
        many of the newest matches (paging).
        """
        self.reconcile()
        query = sa.select(t.runs).where(*self._run_filters(workflow_id, status, kind, parent_run_id, since, until))
        query = query.order_by(t.runs.c.started_at.desc(), t.runs.c.run_id.desc()).limit(limit).offset(offset)
        with self.db.read() as conn:
            return [_run(row) for row in conn.execute(query).mappings()]

    def count_runs(
        self, *, workflow_id: str | None = None, status: Status | str | None = None, kind: str | None = None,
        since: str | None = None, until: str | None = None,
    ) -> int:
        """How many runs `list_runs` would page through with these filters."""
        where = self._run_filters(workflow_id, status, kind, None, since, until)
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t.runs).where(*where)).scalar() or 0)

    def workflow_ids(self) -> list[str]:
        """Every workflow with a recorded run, sorted."""
        query = sa.select(t.runs.c.workflow_id).distinct().where(self._env_filter()).order_by(t.runs.c.workflow_id)
        with self.db.read() as conn:
            return [str(v) for v in conn.execute(query).scalars()]

    def date_statuses(
        self, *, workflow_id: str | None = None, since: str | None = None, until: str | None = None,
    ) -> list[DateStatus]:
        """Per workflow and execution date: the status of its latest `main` run, and how many runs it had.

        What a grid of dates x status shows (a daily's and a backfill's dates are `main` runs too).
        """
        self.reconcile()
        where = self._run_filters(workflow_id, None, "main", None, since, until)
        latest = sa.select(
            t.runs.c.workflow_id, t.runs.c.execution_date, t.runs.c.status, t.runs.c.run_id,
            sa.func.row_number().over(
                partition_by=(t.runs.c.workflow_id, t.runs.c.execution_date),
                order_by=(t.runs.c.started_at.desc(), t.runs.c.run_id.desc()),
            ).label("n"),
            sa.func.count().over(partition_by=(t.runs.c.workflow_id, t.runs.c.execution_date)).label("runs"),
        ).where(t.runs.c.execution_date.is_not(None), *where).subquery()
        query = sa.select(latest).where(latest.c.n == 1).order_by(latest.c.workflow_id, latest.c.execution_date)
        with self.db.read() as conn:
            return [DateStatus(r.workflow_id, r.execution_date, Status(r.status), r.run_id, int(r.runs))
                    for r in conn.execute(query)]

    def last_execution_date(self, *, workflow_id: str | None = None) -> str | None:
        """The newest execution date of any `main` run (of `workflow_id`), or None."""
        where = self._run_filters(workflow_id, None, "main", None, None, None)
        with self.db.read() as conn:
            found = conn.execute(sa.select(sa.func.max(t.runs.c.execution_date)).where(*where)).scalar()
        return str(found) if found is not None else None

    def _env_filter(self) -> sa.ColumnElement[bool]:
        """Only this store's environment's runs (production's have no env)."""
        return t.runs.c.env.is_(None) if self.env is None else t.runs.c.env == self.env

    def _run_filters(
        self, workflow_id: str | None, status: Status | str | None, kind: str | None, parent_run_id: str | None,
        since: str | None, until: str | None,
    ) -> list[sa.ColumnElement[bool]]:
        filters = {
            t.runs.c.workflow_id: workflow_id, t.runs.c.status: _status(status).value if status else None,
            t.runs.c.kind: kind, t.runs.c.parent_run_id: parent_run_id,
        }
        where = [self._env_filter(), *(column == value for column, value in filters.items() if value is not None)]
        if since:
            where.append(t.runs.c.execution_date >= since)
        if until:
            where.append(t.runs.c.execution_date <= until)
        return where

    def get_run(self, run_id: str) -> RunDetail:
        """A run with its job runs and audit results; unknown ids raise `RunNotFoundError`."""
        self.reconcile()
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.run_id == run_id)).mappings().first()
            if row is None:
                raise RunNotFoundError(run_id, self._recent_ids())
            jobs = conn.execute(sa.select(t.jobs).where(t.jobs.c.run_id == run_id).order_by(t.jobs.c.id)).mappings()
            job_records = [_job(r) for r in jobs]
            audits = conn.execute(sa.select(t.audits).where(t.audits.c.run_id == run_id).order_by(t.audits.c.id))
            audit_records = [_audit(r) for r in audits.mappings()]
        return RunDetail(_run(row), job_records, audit_records)

    def succeeded_dates(self, workflow_id: str) -> set[str]:
        """Execution dates with a successful `main` run of the workflow (a backfill skips them)."""
        query = sa.select(t.runs.c.execution_date).distinct().where(
            t.runs.c.workflow_id == workflow_id, t.runs.c.kind == "main", t.runs.c.status == Status.SUCCESS.value,
            t.runs.c.execution_date.is_not(None), self._env_filter(),
        )
        with self.db.read() as conn:
            return {str(value) for value in conn.execute(query).scalars()}

    # -- plumbing ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._stop.set()
        self.db.dispose()

    def _keep_alive(self, run_id: str) -> None:
        with self._lock:
            self._open_runs.add(run_id)
            if self._beater is None or not self._beater.is_alive():
                self._beater = threading.Thread(
                    target=_beat_forever, args=(weakref.ref(self), self._stop, self.heartbeat_s),
                    name="towpath-heartbeat", daemon=True,
                )
                self._beater.start()

    def _death(self, row: Any, at: dt.datetime) -> str | None:
        """Why the process of a `running` run is dead, or None if it may be alive."""
        last = dt.datetime.fromisoformat(row.heartbeat_at or row.started_at)
        if row.host == self.host and row.pid is not None and not pid_alive(row.pid):
            return f"its process {row.pid} on {row.host} died without finishing the run (found {at:%Y-%m-%d %H:%M:%S} UTC)"
        if at - last > STALE_AFTER:
            return (
                f"no heartbeat from process {row.pid or '?'} on {row.host or '?'} since {last:%Y-%m-%d %H:%M:%S} UTC; "
                "its process is gone"
            )
        return None

    def _recent_ids(self) -> list[str]:
        query = sa.select(t.runs.c.run_id).order_by(t.runs.c.started_at.desc()).limit(200)
        with self.db.read() as conn:
            return [str(r) for r in conn.execute(query).scalars()]


def _beat_forever(store_ref: weakref.ref[StateStore], stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        store = store_ref()
        if store is None:
            return
        try:
            store.beat()
        except StateError:  # a busy or briefly unreachable store: the next beat will do
            pass
        del store


def _status(value: Status | str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise StateError(
            f"unknown run status '{value}'; expected one of {', '.join(s.value for s in Status)}"
        ) from None


def _duration(started: str, finished: str | None) -> float | None:
    if not finished:
        return None
    return (dt.datetime.fromisoformat(finished) - dt.datetime.fromisoformat(started)).total_seconds()


def _run(row: sa.RowMapping) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"], workflow_id=row["workflow_id"], kind=row["kind"], status=Status(row["status"]),
        execution_date=row["execution_date"], params=json.loads(row["params"]), started_at=row["started_at"],
        finished_at=row["finished_at"], duration_s=_duration(row["started_at"], row["finished_at"]),
        error=row["error"], parent_run_id=row["parent_run_id"], pid=row["pid"], host=row["host"],
        heartbeat_at=row["heartbeat_at"], workflow_path=row["workflow_path"],
        graph=json.loads(row["graph"]) if row["graph"] else None,
    )


def _job(row: sa.RowMapping) -> JobRecord:
    return JobRecord(
        id=row["id"], run_id=row["run_id"], job_id=row["job_id"], job_type=row["job_type"],
        status=Status(row["status"]), started_at=row["started_at"], finished_at=row["finished_at"],
        duration_s=_duration(row["started_at"], row["finished_at"]), rows_written=row["rows_written"],
        snapshots=json.loads(row["snapshots"]), error=row["error"], details=json.loads(row["details"]),
        parent_job=row["parent_job"], attempt=row["attempt"],
    )


def _audit(row: sa.RowMapping) -> RecordedAudit:
    from towpath.audits import AuditResult

    result = AuditResult(
        name=row["name"], function=row["function"], table=row["table_name"], blocking=bool(row["blocking"]),
        passed=bool(row["passed"]), failing_rows=row["failing_rows"], sample=json.loads(row["sample"]),
        message=row["message"], sql=row["sql"],
    )
    return RecordedAudit(job_id=row["job_id"], attempt=row["attempt"], result=result)
