"""Run state: every workflow run, job run and audit result, in a small SQLite file.

SQLite in WAL mode lets readers (`towpath runs list`) work while a run writes,
and the busy timeout plus `BEGIN IMMEDIATE` lets several processes (a backfill
with parallel dates, the scheduler, a manual run) record at once without
`database is locked` errors. A connection is opened per call: it costs well under
a millisecond and keeps the store safe to use after `fork` and from threads.
Timestamps are UTC ISO-8601 strings; dicts are JSON columns.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from towpath.errors import CatalogError

SCHEMA_VERSION = 1

RUN_STATUSES = ("running", "success", "failed", "audit_failed", "skipped")
"""Statuses a run or job run can have; `running` until it finishes."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    execution_date TEXT,
    params TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    error TEXT,
    parent_run_id TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow_id, kind, status);
CREATE INDEX IF NOT EXISTS runs_by_parent ON runs (parent_run_id);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    job_id TEXT NOT NULL,
    job_type TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    rows_written INTEGER,
    snapshots TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_by_run ON jobs (run_id);
CREATE TABLE IF NOT EXISTS audits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    job_id TEXT NOT NULL,
    name TEXT NOT NULL,
    function TEXT NOT NULL,
    table_name TEXT NOT NULL,
    blocking INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    failing_rows INTEGER NOT NULL,
    sample TEXT NOT NULL,
    message TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audits_by_run ON audits (run_id);
"""


class RunNotFoundError(CatalogError):
    """A run id is not in the run store; suggests close ids."""

    def __init__(self, run_id: str, known: list[str]) -> None:
        close = difflib.get_close_matches(run_id, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else " See `towpath runs list`."
        super().__init__(f"No run '{run_id}' is recorded.{hint}")
        self.run_id, self.suggestions = run_id, close


@dataclass
class AuditRecord:
    """One audit's outcome within a run."""

    name: str
    function: str
    table: str
    blocking: bool
    passed: bool
    failing_rows: int
    sample: list[dict[str, Any]] = field(default_factory=list)
    """A few failing rows, for the run report."""
    message: str = ""


@dataclass
class RunRecord:
    run_id: str
    workflow_id: str
    kind: str
    """`main`, `daily` or `backfill`."""
    status: str
    execution_date: str | None
    params: dict[str, str]
    started_at: str
    finished_at: str | None
    duration_s: float | None
    error: str | None
    parent_run_id: str | None


@dataclass
class JobRecord:
    id: int
    run_id: str
    job_id: str
    job_type: str
    status: str
    started_at: str
    finished_at: str | None
    duration_s: float | None
    rows_written: int | None
    snapshots: dict[str, int]
    """Table -> snapshot id the job produced (published or on its branch)."""
    error: str | None
    details: dict[str, Any]


@dataclass
class RunDetail:
    run: RunRecord
    jobs: list[JobRecord]
    audits: list[AuditRecord]


def new_run_id(now: dt.datetime | None = None) -> str:
    """A fresh run id, `YYYYMMDDTHHMMSS-xxxxxx` (sortable by start).

    The runner allocates it before loading the workflow, so `${RUN_ID}` resolves
    like every other built-in; `start_run(run_id=...)` records it.
    """
    return f"{now or _now():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


class RunStore:
    """Records runs, job runs and audit results; safe for several processes at once."""

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    # -- runs -------------------------------------------------------------------------------------

    def start_run(
        self,
        workflow_id: str,
        *,
        kind: str = "main",
        params: dict[str, str] | None = None,
        execution_date: str | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
    ) -> str:
        """Record a run as `running`; returns its id (`new_run_id()`, unless the caller allocated one)."""
        now = _now()
        given = run_id
        while True:
            run_id = given or new_run_id(now)
            try:
                with self._write() as db:
                    db.execute(
                        "INSERT INTO runs (run_id, workflow_id, kind, status, execution_date, params, started_at,"
                        " parent_run_id) VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                        (run_id, workflow_id, kind, execution_date, json.dumps(params or {}, sort_keys=True),
                         now.isoformat(), parent_run_id),
                    )
                return run_id
            except sqlite3.IntegrityError:  # 1 in 16 million in the same second: draw again
                if given:
                    raise CatalogError(f"run id '{given}' is already recorded") from None
                continue

    def finish_run(self, run_id: str, status: str, *, error: str | None = None) -> None:
        """Set a run's final status (and error); `running` reopens it."""
        _check_status(status)
        finished = None if status == "running" else _now().isoformat()
        with self._write() as db:
            updated = db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE run_id = ?",
                (status, finished, error, run_id),
            ).rowcount
        if not updated:
            raise RunNotFoundError(run_id, self._recent_ids())

    # -- jobs and audits --------------------------------------------------------------------------

    def start_job(self, run_id: str, job_id: str, job_type: str) -> int:
        """Record a job of a run as `running`; returns the job run's id."""
        with self._write() as db:
            if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                raise RunNotFoundError(run_id, self._recent_ids())
            cursor = db.execute(
                "INSERT INTO jobs (run_id, job_id, job_type, status, started_at) VALUES (?, ?, ?, 'running', ?)",
                (run_id, job_id, job_type, _now().isoformat()),
            )
            return int(cursor.lastrowid or 0)

    def finish_job(
        self,
        job_run_id: int,
        status: str,
        *,
        rows_written: int | None = None,
        snapshots: dict[str, int] | None = None,
        error: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        _check_status(status)
        with self._write() as db:
            updated = db.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, rows_written = ?, snapshots = ?, error = ?, details = ?"
                " WHERE id = ?",
                (status, None if status == "running" else _now().isoformat(), rows_written,
                 json.dumps(snapshots or {}, sort_keys=True), error, json.dumps(details or {}, default=str),
                 job_run_id),
            ).rowcount
        if not updated:
            raise CatalogError(f"No job run {job_run_id} is recorded; start_job() returns the id to finish")

    def record_audit(self, run_id: str, job_id: str, result: AuditRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO audits (run_id, job_id, name, function, table_name, blocking, passed, failing_rows,"
                " sample, message, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, job_id, result.name, result.function, result.table, int(result.blocking),
                 int(result.passed), int(result.failing_rows), json.dumps(result.sample, default=str),
                 result.message, _now().isoformat()),
            )

    # -- reading ----------------------------------------------------------------------------------

    def list_runs(
        self,
        *,
        limit: int = 20,
        workflow_id: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        parent_run_id: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, filtered by any of the given fields."""
        filters = {"workflow_id": workflow_id, "status": status, "kind": kind, "parent_run_id": parent_run_id}
        where = [f"{column} = ?" for column, value in filters.items() if value is not None]
        args: list[Any] = [value for value in filters.values() if value is not None]
        sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY started_at DESC, run_id DESC LIMIT ?"
        with self._read() as db:
            return [_run(row) for row in db.execute(sql, (*args, limit))]

    def get_run(self, run_id: str) -> RunDetail:
        """A run with its job runs and audit results; unknown ids raise `RunNotFoundError`."""
        with self._read() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFoundError(run_id, self._recent_ids())
            jobs = [_job(r) for r in db.execute("SELECT * FROM jobs WHERE run_id = ? ORDER BY id", (run_id,))]
            audits = [_audit(r) for r in db.execute("SELECT * FROM audits WHERE run_id = ? ORDER BY id", (run_id,))]
        return RunDetail(_run(row), jobs, audits)

    def succeeded_dates(self, workflow_id: str) -> set[str]:
        """Execution dates with a successful `main` run of the workflow (a backfill skips them)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT DISTINCT execution_date FROM runs WHERE workflow_id = ? AND kind = 'main'"
                " AND status = 'success' AND execution_date IS NOT NULL",
                (workflow_id,),
            )
            return {r[0] for r in rows}

    # -- plumbing ---------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        return db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction: takes the write lock up front, so no deadlock upgrades."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise CatalogError(f"cannot write the run store {self.path}: {exc}") from exc
        finally:
            db.close()

    def _migrate(self) -> None:
        try:
            db = self._connect()
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"cannot open the run store {self.path}: {exc}") from exc
        try:
            db.execute("PRAGMA journal_mode = WAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise CatalogError(
                    f"the run store {self.path} has schema version {version}, newer than this towpath "
                    f"understands ({SCHEMA_VERSION}); upgrade towpath"
                )
            if version < SCHEMA_VERSION:
                db.execute("BEGIN IMMEDIATE")
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"cannot open the run store {self.path}: {exc}") from exc
        finally:
            db.close()

    def _recent_ids(self) -> list[str]:
        with self._read() as db:
            return [r[0] for r in db.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 200")]


def _check_status(status: str) -> None:
    if status not in RUN_STATUSES:
        raise CatalogError(f"unknown run status '{status}'; expected one of {', '.join(RUN_STATUSES)}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _duration(started: str, finished: str | None) -> float | None:
    if not finished:
        return None
    return (dt.datetime.fromisoformat(finished) - dt.datetime.fromisoformat(started)).total_seconds()


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"], workflow_id=row["workflow_id"], kind=row["kind"], status=row["status"],
        execution_date=row["execution_date"], params=json.loads(row["params"]), started_at=row["started_at"],
        finished_at=row["finished_at"], duration_s=_duration(row["started_at"], row["finished_at"]),
        error=row["error"], parent_run_id=row["parent_run_id"],
    )


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"], run_id=row["run_id"], job_id=row["job_id"], job_type=row["job_type"], status=row["status"],
        started_at=row["started_at"], finished_at=row["finished_at"],
        duration_s=_duration(row["started_at"], row["finished_at"]), rows_written=row["rows_written"],
        snapshots=json.loads(row["snapshots"]), error=row["error"], details=json.loads(row["details"]),
    )


def _audit(row: sqlite3.Row) -> AuditRecord:
    return AuditRecord(
        name=row["name"], function=row["function"], table=row["table_name"], blocking=bool(row["blocking"]),
        passed=bool(row["passed"]), failing_rows=row["failing_rows"], sample=json.loads(row["sample"]),
        message=row["message"],
    )
