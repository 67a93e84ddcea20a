"""Small typed APIs over the state store's ledgers, one class per ledger.

* `StagingLedger`: what WAP publishers staged (branches), so `table branches`
  can say which run made a branch and why it is still there.
* `KvLedger`: numbered versions of key-value namespaces and the aliases readers
  use; a swap is one transaction that remembers the previous version.
* `OffsetLedger`: the next Kafka offset per stream partition, committed with
  the lake snapshot that made the earlier offsets visible (a mirror of the
  table's record); for a stream's files sink it is the record itself
  (`commit_window`: conditional offsets + the window's file-move log), with the
  sink's schema and CSV header beside it.
* `AlertLedger`: every firing of a stream alert, with the window's offsets.
* `MigrationLedger`: applied schema migrations with the checksum of their text.
* `LineageLedger`: static column lineage per workflow (edges, and where code names each column)
  and dynamic lineage per job run (the tables and snapshot ids it read and wrote).
* `ChartLedger`: charts saved from the console's chart builder, grouped into dashboards.
* `LeaseLedger`: singleton roles (a project's scheduler) with their holder's pid, host and heartbeat.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from towpath.state import _schema as t
from towpath.state._db import Database, now, pid_alive
from towpath.state.errors import LeaseHeldError, LeaseLostError, OffsetConflictError, StateError
from towpath.state.records import (
    AlertFiring,
    Deployment,
    KvAlias,
    KvVersion,
    Lease,
    LineageEdge,
    LineageRun,
    LineageUse,
    LineageWorkflow,
    MigrationRecord,
    PendingWindow,
    SavedChart,
    Staging,
    StreamOffset,
)


class StagingLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, publisher: str, target: str, ref: str, *, run_id: str, job_id: str, attempt: int) -> None:
        """A version was staged (status `staged`)."""
        stamp = now().isoformat()
        key = {"the_publisher": publisher, "the_target": target, "the_ref": ref}
        with self.db.write() as conn:
            conn.execute(_DELETE_STAGING, key)
            conn.execute(_INSERT_STAGING, {
                "publisher": publisher, "target": target, "ref": ref, "run_id": run_id, "job_id": job_id,
                "attempt": attempt, "status": "staged", "created_at": stamp, "updated_at": stamp,
            })

    def mark(self, publisher: str, target: str, ref: str, status: str, reason: str | None = None) -> None:
        """A staged version was `kept` (with why), `published` or `discarded`."""
        with self.db.write() as conn:
            conn.execute(_MARK_STAGING, {
                "the_publisher": publisher, "the_target": target, "the_ref": ref, "status": status, "reason": reason,
                "updated_at": now().isoformat(),
            })

    def of_target(self, publisher: str, target: str, refs: Collection[str] | None = None) -> dict[str, Staging]:
        """Ref -> staging record, for one table; only those of `refs` when given.

        A table keeps one record per version ever staged (a daily WAP: one a day),
        so a caller that cares about the refs the table has now names them.
        """
        query = sa.select(t.stagings).where(t.stagings.c.publisher == publisher, t.stagings.c.target == target)
        if refs is not None:
            query = query.where(t.stagings.c.ref.in_(list(refs)))
        with self.db.read() as conn:
            return {row["ref"]: Staging(**{k: row[k] for k in _STAGING_FIELDS}) for row in conn.execute(query).mappings()}

    def of_run(self, run_id: str) -> list[Staging]:
        """Every version a run staged (any publisher), in the order it staged them."""
        query = sa.select(t.stagings).where(t.stagings.c.run_id == run_id).order_by(t.stagings.c.id)
        with self.db.read() as conn:
            return [Staging(**{k: row[k] for k in _STAGING_FIELDS}) for row in conn.execute(query).mappings()]


_STAGING_FIELDS = ("publisher", "target", "ref", "run_id", "job_id", "attempt", "status", "reason", "created_at", "updated_at")


# Built once and executed with parameters, like the run and job writes of `towpath.state.store`.
_STAGING_KEY = (
    t.stagings.c.publisher == sa.bindparam("the_publisher"), t.stagings.c.target == sa.bindparam("the_target"),
    t.stagings.c.ref == sa.bindparam("the_ref"),
)
_DELETE_STAGING = sa.delete(t.stagings).where(*_STAGING_KEY)
_INSERT_STAGING = sa.insert(t.stagings)
_MARK_STAGING = sa.update(t.stagings).where(*_STAGING_KEY)


class KvLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def new_version(self, namespace: str, *, run_id: str | None = None) -> KvVersion:
        """Allocate the next version number of `namespace` (status `started`)."""
        stamp = now().isoformat()
        with self.db.write() as conn:
            last = conn.execute(
                sa.select(sa.func.max(t.kv_versions.c.version)).where(t.kv_versions.c.namespace == namespace)
            ).scalar()
            version = int(last or 0) + 1
            conn.execute(sa.insert(t.kv_versions).values(
                namespace=namespace, version=version, status="started", run_id=run_id, created_at=stamp,
                updated_at=stamp, details="{}",
            ))
        return self.version(namespace, version)

    def set_status(
        self, namespace: str, version: int, status: str, *, rows: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> KvVersion:
        values: dict[str, Any] = {"status": status, "updated_at": now().isoformat()}
        if rows is not None:
            values["rows"] = rows
        if details is not None:
            values["details"] = json.dumps(dict(details), default=str)
        with self.db.write() as conn:
            conn.execute(sa.update(t.kv_versions).where(*_version_key(namespace, version)).values(**values))
        return self.version(namespace, version)

    def version(self, namespace: str, version: int) -> KvVersion:
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.kv_versions).where(*_version_key(namespace, version))).mappings().first()
        if row is None:
            raise StateError(f"namespace '{namespace}' has no version {version}")
        return _kv_version(row)

    def versions(self, namespace: str) -> list[KvVersion]:
        """Every version of `namespace`, oldest first."""
        query = sa.select(t.kv_versions).where(t.kv_versions.c.namespace == namespace).order_by(t.kv_versions.c.version)
        with self.db.read() as conn:
            return [_kv_version(row) for row in conn.execute(query).mappings()]

    def swap_alias(self, alias: str, namespace: str, version: int) -> KvAlias:
        """Point `alias` at an `online` version in one transaction, remembering the previous one."""
        with self.db.write() as conn:
            status = conn.execute(sa.select(t.kv_versions.c.status).where(*_version_key(namespace, version))).scalar()
            if status != "online":
                raise StateError(
                    f"cannot point alias '{alias}' at {namespace} v{version}: the version is "
                    f"{status or 'unknown'}, not online"
                )
            current = conn.execute(sa.select(t.kv_aliases).where(t.kv_aliases.c.alias == alias)).mappings().first()
            values = {"namespace": namespace, "version": version, "updated_at": now().isoformat(),
                      "previous_version": current["version"] if current else None}
            if current:
                conn.execute(sa.update(t.kv_aliases).where(t.kv_aliases.c.alias == alias).values(**values))
            else:
                conn.execute(sa.insert(t.kv_aliases).values(alias=alias, **values))
        found = self.alias(alias)
        assert found is not None
        return found

    def alias(self, alias: str) -> KvAlias | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.kv_aliases).where(t.kv_aliases.c.alias == alias)).mappings().first()
        return KvAlias(**dict(row)) if row else None


def _version_key(namespace: str, version: int) -> tuple[sa.ColumnElement[bool], ...]:
    return (t.kv_versions.c.namespace == namespace, t.kv_versions.c.version == version)


def _kv_version(row: sa.RowMapping) -> KvVersion:
    return KvVersion(**{**dict(row), "details": json.loads(row["details"])})


class OffsetLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def commit(self, stream: str, offsets: Mapping[tuple[str, int], int], *, snapshot_id: int | None) -> None:
        """Store the next offset of every (topic, partition) at once; offsets never move back."""
        stamp = now().isoformat()
        with self.db.write() as conn:
            for (topic, partition), next_offset in offsets.items():
                key = (t.stream_offsets.c.stream == stream, t.stream_offsets.c.topic == topic,
                       t.stream_offsets.c.partition == partition)
                current = conn.execute(sa.select(t.stream_offsets.c.next_offset).where(*key)).scalar()
                if current is not None and next_offset < current:
                    raise StateError(
                        f"stream '{stream}' {topic}[{partition}]: offset {next_offset} is behind the committed {current}"
                    )
                conn.execute(sa.delete(t.stream_offsets).where(*key))
                conn.execute(sa.insert(t.stream_offsets).values(
                    stream=stream, topic=topic, partition=partition, next_offset=next_offset,
                    snapshot_id=snapshot_id, committed_at=stamp,
                ))

    def of_stream(self, stream: str) -> list[StreamOffset]:
        query = (sa.select(t.stream_offsets).where(t.stream_offsets.c.stream == stream)
                 .order_by(t.stream_offsets.c.topic, t.stream_offsets.c.partition))
        with self.db.read() as conn:
            return [StreamOffset(**dict(row)) for row in conn.execute(query).mappings()]

    def commit_window(
        self, stream: str, *, expected: Mapping[tuple[str, int], int | None], offsets: Mapping[tuple[str, int], int],
        window: str | None = None, moves: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Move `stream`'s offsets to `offsets` if they still are `expected` (None: never recorded), and log the
        window's file moves, in one transaction: the commit point of a files sink.

        Unlike `commit` (the mirror of offsets a table records) this is the record itself: it may move an offset
        back (`stream reset`), and a writer that read stale offsets is refused.

        Raises:
            OffsetConflictError: another writer moved one of the offsets (fenced; nothing changed).
        """
        stamp = now().isoformat()
        table = t.stream_offsets
        with self.db.write() as conn:
            rows = conn.execute(sa.select(table.c.topic, table.c.partition, table.c.next_offset)
                                .where(table.c.stream == stream)).all()
            recorded = {(topic, partition): value for topic, partition, value in rows}
            moved = {f"{topic}/{partition}": (expected.get((topic, partition)), recorded.get((topic, partition)))
                     for topic, partition in offsets if recorded.get((topic, partition)) != expected.get((topic, partition))}
            if moved:
                raise OffsetConflictError(stream, moved)
            for (topic, partition), next_offset in offsets.items():
                conn.execute(sa.delete(table).where(table.c.stream == stream, table.c.topic == topic,
                                                    table.c.partition == partition))
                conn.execute(sa.insert(table).values(stream=stream, topic=topic, partition=partition,
                                                     next_offset=next_offset, snapshot_id=None, committed_at=stamp))
            moves = list(moves)
            if window is not None and moves:
                conn.execute(sa.insert(t.stream_windows).values(
                    stream=stream, window=window, moves=json.dumps(moves), created_at=stamp))

    def pending_windows(self, stream: str) -> list[PendingWindow]:
        """Committed windows of `stream` whose file moves were not all confirmed (oldest first)."""
        query = (sa.select(t.stream_windows).where(t.stream_windows.c.stream == stream)
                 .order_by(t.stream_windows.c.created_at, t.stream_windows.c.window))
        with self.db.read() as conn:
            return [PendingWindow(r["stream"], r["window"], [tuple(m) for m in json.loads(r["moves"])], r["created_at"])
                    for r in conn.execute(query).mappings()]

    def finish_window(self, stream: str, window: str) -> None:
        """Every file of the window is in place: forget its moves."""
        with self.db.write() as conn:
            conn.execute(sa.delete(t.stream_windows).where(t.stream_windows.c.stream == stream,
                                                           t.stream_windows.c.window == window))

    def sink_meta(self, stream: str) -> dict[str, str]:
        query = sa.select(t.stream_sink_meta.c.key, t.stream_sink_meta.c.value).where(
            t.stream_sink_meta.c.stream == stream)
        with self.db.read() as conn:
            return {key: value for key, value in conn.execute(query).all()}

    def update_sink_meta(self, stream: str, key: str, update: Callable[[str | None], str]) -> str:
        """Set `key` to `update(current value)` in one transaction (concurrent writers merge, none is lost)."""
        table = t.stream_sink_meta
        where = (table.c.stream == stream, table.c.key == key)
        with self.db.write() as conn:
            current = conn.execute(sa.select(table.c.value).where(*where)).scalar()
            value = update(current)
            if value != current:
                conn.execute(sa.delete(table).where(*where))
                conn.execute(sa.insert(table).values(stream=stream, key=key, value=value, updated_at=now().isoformat()))
            return value


class AlertLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, firing: AlertFiring) -> None:
        with self.db.write() as conn:
            conn.execute(sa.insert(t.alert_firings).values(
                stream=firing.stream, alert=firing.alert, matched=firing.matched,
                offsets=json.dumps(firing.offsets, sort_keys=True), snapshot_id=firing.snapshot_id,
                sample=json.dumps(firing.sample, default=str), notify=firing.notify,
                delivery_error=firing.delivery_error, fired_at=firing.fired_at,
            ))

    def of_stream(self, stream: str, *, limit: int = 100) -> list[AlertFiring]:
        """The stream's firings, newest first."""
        query = (sa.select(t.alert_firings).where(t.alert_firings.c.stream == stream)
                 .order_by(t.alert_firings.c.id.desc()).limit(limit))
        with self.db.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            AlertFiring(
                stream=r["stream"], alert=r["alert"], matched=r["matched"], offsets=json.loads(r["offsets"]),
                snapshot_id=r["snapshot_id"], sample=json.loads(r["sample"]), notify=r["notify"],
                delivery_error=r["delivery_error"], fired_at=r["fired_at"],
            )
            for r in rows
        ]


class MigrationLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self, migration_id: str, checksum: str, *, status: str = "applied", run_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> MigrationRecord:
        """Record a migration; re-recording one with a different checksum is refused (its text was edited)."""
        with self.db.write() as conn:
            known = conn.execute(
                sa.select(t.migrations.c.checksum).where(t.migrations.c.migration_id == migration_id)
            ).scalar()
            if known is not None and known != checksum:
                raise StateError(
                    f"migration '{migration_id}' was applied with checksum {known}, but its text now has {checksum}; "
                    "write a new migration instead of editing an applied one"
                )
            conn.execute(sa.delete(t.migrations).where(t.migrations.c.migration_id == migration_id))
            conn.execute(sa.insert(t.migrations).values(
                migration_id=migration_id, checksum=checksum, status=status, run_id=run_id,
                applied_at=now().isoformat(), details=json.dumps(dict(details or {}), default=str),
            ))
        return next(m for m in self.applied() if m.migration_id == migration_id)

    def applied(self) -> list[MigrationRecord]:
        query = sa.select(t.migrations).order_by(t.migrations.c.migration_id)
        with self.db.read() as conn:
            return [MigrationRecord(**{**dict(r), "details": json.loads(r["details"])}) for r in conn.execute(query).mappings()]


class LineageLedger:
    """Static lineage (per workflow, replaced on every scan) and dynamic lineage (per job run)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, edges: Iterable[LineageEdge], *, run_id: str | None = None) -> None:
        """Append edges (a run's, when `run_id` is given)."""
        stamp = now().isoformat()
        rows = [_edge_row(e, stamp, run_id or e.run_id) for e in edges]
        if rows:
            with self.db.write() as conn:
                conn.execute(sa.insert(t.lineage), rows)

    def replace_static(
        self, workflow_id: str, edges: Iterable[LineageEdge], uses: Iterable[LineageUse], *,
        path: str | None = None, owner: str | None = None,
    ) -> None:
        """Replace everything statically known about `workflow_id` in one transaction."""
        stamp = now().isoformat()
        edge_rows = [_edge_row(e, stamp, None) for e in edges]
        use_rows = [{"workflow_id": workflow_id, "job_id": u.job_id, "table_name": u.table, "column_name": u.column,
                     "role": u.role, "file": u.file, "line": u.line} for u in uses]
        with self.db.write() as conn:
            self._forget(conn, workflow_id)
            if edge_rows:
                conn.execute(sa.insert(t.lineage), edge_rows)
            if use_rows:
                conn.execute(sa.insert(t.lineage_uses), use_rows)
            conn.execute(sa.insert(t.lineage_workflows), {
                "workflow_id": workflow_id, "path": path, "owner": owner, "refreshed_at": stamp})

    def forget(self, workflow_id: str) -> None:
        """Drop the static lineage of a workflow that no longer exists."""
        with self.db.write() as conn:
            self._forget(conn, workflow_id)

    @staticmethod
    def _forget(conn: sa.Connection, workflow_id: str) -> None:
        for statement in _FORGET_STATIC:
            conn.execute(statement, {"the_workflow": workflow_id})

    def static_edges(self) -> list[LineageEdge]:
        """Every statically known edge, in the order recorded."""
        query = sa.select(t.lineage).where(t.lineage.c.run_id.is_(None)).order_by(t.lineage.c.id)
        with self.db.read() as conn:
            return [_edge(r) for r in conn.execute(query).mappings()]

    def uses(self, table: str | None = None) -> list[LineageUse]:
        """Where code names tables and columns (of `table` only, if given)."""
        query = sa.select(t.lineage_uses).order_by(t.lineage_uses.c.id)
        if table is not None:
            query = query.where(t.lineage_uses.c.table_name == table)
        with self.db.read() as conn:
            return [LineageUse(workflow_id=r["workflow_id"], job_id=r["job_id"], table=r["table_name"],
                               column=r["column_name"], role=r["role"], file=r["file"], line=r["line"])
                    for r in conn.execute(query).mappings()]

    def workflows(self) -> list[LineageWorkflow]:
        query = sa.select(t.lineage_workflows).order_by(t.lineage_workflows.c.workflow_id)
        with self.db.read() as conn:
            return [LineageWorkflow(**dict(r)) for r in conn.execute(query).mappings()]

    def upstream(self, target: str) -> list[LineageEdge]:
        """Edges into `target`, newest first."""
        query = sa.select(t.lineage).where(t.lineage.c.target == target).order_by(t.lineage.c.id.desc())
        with self.db.read() as conn:
            return [_edge(r) for r in conn.execute(query).mappings()]

    def record_run(
        self, run_id: str, workflow_id: str, job_id: str, *, status: str,
        inputs: Mapping[str, int | None], outputs: Mapping[str, int | None],
    ) -> None:
        """A job run read `inputs` and wrote `outputs` (table -> snapshot id)."""
        stamp = now().isoformat()
        rows = [{"run_id": run_id, "workflow_id": workflow_id, "job_id": job_id, "table_name": table, "role": role,
                 "snapshot_id": snapshot, "status": status, "recorded_at": stamp}
                for role, tables in (("input", inputs), ("output", outputs)) for table, snapshot in tables.items()]
        if rows:
            with self.db.write() as conn:
                conn.execute(sa.insert(t.lineage_runs), rows)

    def runs(self, *, table: str | None = None, run_id: str | None = None, limit: int | None = None) -> list[LineageRun]:
        """Job runs' reads and writes, newest first (of `table` or of the run `run_id` only, if given)."""
        query = sa.select(t.lineage_runs).order_by(t.lineage_runs.c.id.desc())
        if table is not None:
            query = query.where(t.lineage_runs.c.table_name == table)
        if run_id is not None:
            query = query.where(t.lineage_runs.c.run_id == run_id)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            return [LineageRun(run_id=r["run_id"], workflow_id=r["workflow_id"], job_id=r["job_id"],
                               table=r["table_name"], role=r["role"], snapshot_id=r["snapshot_id"],
                               status=r["status"], recorded_at=r["recorded_at"])
                    for r in conn.execute(query).mappings()]


_FORGET_STATIC = (  # a workflow's static lineage; built once and run with parameters (every run refreshes it)
    sa.delete(t.lineage).where(t.lineage.c.workflow_id == sa.bindparam("the_workflow"), t.lineage.c.run_id.is_(None)),
    sa.delete(t.lineage_uses).where(t.lineage_uses.c.workflow_id == sa.bindparam("the_workflow")),
    sa.delete(t.lineage_workflows).where(t.lineage_workflows.c.workflow_id == sa.bindparam("the_workflow")),
)


def _edge_row(e: LineageEdge, stamp: str, run_id: str | None) -> dict[str, Any]:
    return {"run_id": run_id, "source": e.source, "source_column": e.source_column, "target": e.target,
            "target_column": e.target_column, "recorded_at": stamp, "workflow_id": e.workflow_id,
            "job_id": e.job_id, "kind": e.kind, "file": e.file, "line": e.line}


def _edge(r: sa.RowMapping) -> LineageEdge:
    return LineageEdge(source=r["source"], target=r["target"], source_column=r["source_column"],
                       target_column=r["target_column"], run_id=r["run_id"], recorded_at=r["recorded_at"],
                       workflow_id=r["workflow_id"], job_id=r["job_id"], kind=r["kind"], file=r["file"],
                       line=r["line"])


class LeaseLedger:
    """Singleton roles across processes and hosts, as rows with a heartbeat.

    A lease is free when nobody holds it, when its holder is a dead process on
    this host, or when its heartbeat is older than `ttl_s` (a holder on another
    host that stopped renewing). Acquiring and renewing are single transactions,
    so two contenders never both win.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def acquire(self, name: str, *, ttl_s: float) -> Lease:
        """Take `name`, or raise `LeaseHeldError` naming the live holder's pid and host."""
        stamp = now()
        lease = Lease(name, secrets.token_hex(8), os.getpid(), socket.gethostname(), stamp.isoformat(), stamp.isoformat())
        with self.db.write() as conn:
            row = conn.execute(sa.select(t.leases).where(t.leases.c.name == name)).mappings().first()
            if row is not None and not _lease_free(row, ttl_s, stamp):
                raise LeaseHeldError(name, row["pid"], row["host"], row["acquired_at"])
            conn.execute(sa.delete(t.leases).where(t.leases.c.name == name))
            conn.execute(sa.insert(t.leases).values(**lease.__dict__))
        return lease

    def renew(self, lease: Lease) -> Lease:
        """Move the heartbeat on; `LeaseLostError` if another process took the lease over."""
        stamp = now().isoformat()
        with self.db.write() as conn:
            done = conn.execute(
                sa.update(t.leases).where(t.leases.c.name == lease.name, t.leases.c.holder == lease.holder)
                .values(heartbeat_at=stamp)
            ).rowcount
        if not done:
            raise LeaseLostError(f"{lease.name} was taken over by another process")
        return Lease(**{**lease.__dict__, "heartbeat_at": stamp})

    def release(self, lease: Lease) -> None:
        """Give the lease up (a no-op if another process already took it over)."""
        with self.db.write() as conn:
            conn.execute(sa.delete(t.leases).where(t.leases.c.name == lease.name, t.leases.c.holder == lease.holder))

    def holder(self, name: str, *, ttl_s: float) -> Lease | None:
        """The lease's current holder, if it is held by a live process."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.leases).where(t.leases.c.name == name)).mappings().first()
        if row is None:
            return None
        return None if _lease_free(row, ttl_s, now()) else Lease(**dict(row))


def _lease_free(row: sa.RowMapping, ttl_s: float, at: dt.datetime) -> bool:
    if row["host"] == socket.gethostname():
        return not pid_alive(row["pid"])
    return (at - dt.datetime.fromisoformat(row["heartbeat_at"])).total_seconds() > ttl_s


class ChartLedger:
    """Saved charts: a dashboard is the set of charts saved under its name (a project has `main` by default)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, *, dashboard: str, title: str, table: str, spec: Mapping[str, Any],
             chart_id: str | None = None) -> SavedChart:
        """Store a chart (a new id unless `chart_id` names one to replace); returns it as stored."""
        stamp = now().isoformat()
        chart_id = chart_id or f"c{secrets.token_hex(4)}"
        values = {"dashboard": dashboard, "title": title, "table_name": table,
                  "spec": json.dumps(dict(spec), sort_keys=True), "updated_at": stamp}
        with self.db.write() as conn:
            updated = conn.execute(sa.update(t.charts).where(t.charts.c.chart_id == chart_id).values(**values)).rowcount
            if not updated:
                conn.execute(sa.insert(t.charts).values(chart_id=chart_id, created_at=stamp, **values))
        return self.get(chart_id)

    def get(self, chart_id: str) -> SavedChart:
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.charts).where(t.charts.c.chart_id == chart_id)).mappings().first()
        if row is None:
            raise StateError(f"no saved chart '{chart_id}'")
        return _chart(row)

    def of_dashboard(self, dashboard: str | None = None) -> list[SavedChart]:
        """Charts of one dashboard (every dashboard's without a name), by dashboard then creation."""
        query = sa.select(t.charts).order_by(t.charts.c.dashboard, t.charts.c.created_at, t.charts.c.chart_id)
        if dashboard is not None:
            query = query.where(t.charts.c.dashboard == dashboard)
        with self.db.read() as conn:
            return [_chart(row) for row in conn.execute(query).mappings()]

    def delete(self, chart_id: str) -> bool:
        with self.db.write() as conn:
            return bool(conn.execute(sa.delete(t.charts).where(t.charts.c.chart_id == chart_id)).rowcount)


def _chart(row: sa.RowMapping) -> SavedChart:
    return SavedChart(chart_id=row["chart_id"], dashboard=row["dashboard"], title=row["title"],
                      table=row["table_name"], spec=json.loads(row["spec"]), created_at=row["created_at"],
                      updated_at=row["updated_at"])


class DeploymentLedger:
    """What each environment deployed and when it was promoted or dropped (newest last)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self, *, env: str, action: str, commit_sha: str | None = None, branch: str | None = None, dirty: bool = False,
        workflows: Iterable[str] = (), schedules: Iterable[str] = (), tables: Iterable[str] = (),
        detail: Mapping[str, Any] | None = None,
    ) -> Deployment:
        """Append one deployment event; returns it as stored."""
        values = {
            "env": env, "action": action, "commit_sha": commit_sha, "branch": branch, "dirty": dirty,
            "workflows": json.dumps(list(workflows)), "schedules": json.dumps(list(schedules)),
            "tables": json.dumps(list(tables)), "detail": json.dumps(dict(detail or {}), sort_keys=True, default=str),
            "at": now().isoformat(), "host": socket.gethostname(),
        }
        with self.db.write() as conn:
            new_id = conn.execute(sa.insert(t.deployments).values(**values)).inserted_primary_key
        return Deployment(
            id=int(new_id[0]) if new_id else 0, env=env, action=action, commit_sha=commit_sha, branch=branch,
            dirty=dirty, workflows=json.loads(str(values["workflows"])), schedules=json.loads(str(values["schedules"])),
            tables=json.loads(str(values["tables"])), detail=json.loads(str(values["detail"])), at=str(values["at"]),
            host=str(values["host"]),
        )

    def history(self, env: str | None = None) -> list[Deployment]:
        """Every event (of `env`), oldest first."""
        query = sa.select(t.deployments).order_by(t.deployments.c.id)
        if env is not None:
            query = query.where(t.deployments.c.env == env)
        with self.db.read() as conn:
            return [_deployment(row) for row in conn.execute(query).mappings()]

    def latest(self, env: str, action: str = "deploy") -> Deployment | None:
        """The newest `action` of `env`, or None."""
        query = (sa.select(t.deployments).where(t.deployments.c.env == env, t.deployments.c.action == action)
                 .order_by(t.deployments.c.id.desc()).limit(1))
        with self.db.read() as conn:
            row = conn.execute(query).mappings().first()
        return _deployment(row) if row is not None else None

    def environments(self) -> list[str]:
        """Every environment with a recorded event, sorted."""
        query = sa.select(t.deployments.c.env).distinct().order_by(t.deployments.c.env)
        with self.db.read() as conn:
            return [str(v) for v in conn.execute(query).scalars()]


def _deployment(row: sa.RowMapping) -> Deployment:
    return Deployment(
        id=int(row["id"]), env=row["env"], action=row["action"], commit_sha=row["commit_sha"], branch=row["branch"],
        dirty=bool(row["dirty"]), workflows=json.loads(row["workflows"]), schedules=json.loads(row["schedules"]),
        tables=json.loads(row["tables"]), detail=json.loads(row["detail"] or "{}"), at=row["at"], host=row["host"],
    )
