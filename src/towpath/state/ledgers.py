"""Small typed APIs over the state store's ledgers, one class per ledger.

* `StagingLedger`: what WAP publishers staged (branches), so `table branches`
  can say which run made a branch and why it is still there.
* `KvLedger`: numbered versions of key-value namespaces and the aliases readers
  use; a swap is one transaction that remembers the previous version.
* `OffsetLedger`: the next Kafka offset per stream partition, committed with
  the lake snapshot that made the earlier offsets visible.
* `MigrationLedger`: applied schema migrations with the checksum of their text.
* `LineageLedger`: table and column edges recorded by runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from towpath.state import _schema as t
from towpath.state._db import Database, now
from towpath.state.errors import StateError
from towpath.state.records import KvAlias, KvVersion, LineageEdge, MigrationRecord, Staging, StreamOffset


class StagingLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, publisher: str, target: str, ref: str, *, run_id: str, job_id: str, attempt: int) -> None:
        """A version was staged (status `staged`)."""
        stamp = now().isoformat()
        with self.db.write() as conn:
            conn.execute(sa.delete(t.stagings).where(*_staging_key(publisher, target, ref)))
            conn.execute(sa.insert(t.stagings).values(
                publisher=publisher, target=target, ref=ref, run_id=run_id, job_id=job_id, attempt=attempt,
                status="staged", created_at=stamp, updated_at=stamp,
            ))

    def mark(self, publisher: str, target: str, ref: str, status: str, reason: str | None = None) -> None:
        """A staged version was `kept` (with why), `published` or `discarded`."""
        with self.db.write() as conn:
            conn.execute(sa.update(t.stagings).where(*_staging_key(publisher, target, ref)).values(
                status=status, reason=reason, updated_at=now().isoformat(),
            ))

    def of_target(self, publisher: str, target: str) -> dict[str, Staging]:
        """Ref -> staging record, for one table."""
        query = sa.select(t.stagings).where(t.stagings.c.publisher == publisher, t.stagings.c.target == target)
        with self.db.read() as conn:
            return {row["ref"]: Staging(**{k: row[k] for k in _STAGING_FIELDS}) for row in conn.execute(query).mappings()}


_STAGING_FIELDS = ("publisher", "target", "ref", "run_id", "job_id", "attempt", "status", "reason", "created_at", "updated_at")


def _staging_key(publisher: str, target: str, ref: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (t.stagings.c.publisher == publisher, t.stagings.c.target == target, t.stagings.c.ref == ref)


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
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, edges: Iterable[LineageEdge], *, run_id: str | None = None) -> None:
        stamp = now().isoformat()
        rows = [
            {"run_id": run_id or e.run_id, "source": e.source, "source_column": e.source_column, "target": e.target,
             "target_column": e.target_column, "recorded_at": stamp}
            for e in edges
        ]
        if rows:
            with self.db.write() as conn:
                conn.execute(sa.insert(t.lineage), rows)

    def upstream(self, target: str) -> list[LineageEdge]:
        """Edges into `target`, newest first."""
        query = sa.select(t.lineage).where(t.lineage.c.target == target).order_by(t.lineage.c.id.desc())
        with self.db.read() as conn:
            return [
                LineageEdge(source=r["source"], target=r["target"], source_column=r["source_column"],
                            target_column=r["target_column"], run_id=r["run_id"], recorded_at=r["recorded_at"])
                for r in conn.execute(query).mappings()
            ]
