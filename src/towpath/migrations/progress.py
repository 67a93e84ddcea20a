"""`status`: how far each consumer is — its code rescanned from the repository no longer names the old
column, and it has run successfully since the change was applied."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from towpath.lineage import STANDALONE_SUFFIXES
from towpath.migrations.record import Migration, Reference, load, save

if TYPE_CHECKING:
    from towpath.project import Project

__all__ = ["ConsumerProgress", "MigrationProgress", "migration_status"]


@dataclass
class ConsumerProgress:
    consumer: str
    """`workflow.job`."""
    owner: str | None
    impact: str
    remaining: list[Reference] = field(default_factory=list)
    """Lines that still name the old column (empty: the code is updated)."""
    ran_at: str | None = None
    """The first successful run of the job after the change was applied."""

    @property
    def code_updated(self) -> bool:
        return not self.remaining

    @property
    def done(self) -> bool:
        return self.code_updated and self.ran_at is not None

    def to_json(self) -> dict[str, Any]:
        return {"consumer": self.consumer, "owner": self.owner, "impact": self.impact,
                "code_updated": self.code_updated, "remaining": [r.at for r in self.remaining],
                "ran_after_change": self.ran_at, "done": self.done}


@dataclass
class MigrationProgress:
    migration: Migration
    consumers: list[ConsumerProgress]

    @property
    def complete(self) -> bool:
        return self.migration.status in ("started", "complete", "finished") and all(c.done for c in self.consumers)

    def to_json(self) -> dict[str, Any]:
        m = self.migration
        return {"id": m.id, "table": m.table, "change": m.change.describe(), "status": m.status,
                "deadline": m.deadline, "started_at": m.started_at, "complete": self.complete,
                "consumers": [c.to_json() for c in self.consumers]}


def migration_status(project: Project, migration_id: str) -> MigrationProgress:
    """Rescan the repository and the runs; a started migration whose consumers are all done becomes `complete`."""
    from towpath.migrations.plan import rescan

    migration = load(project.state, migration_id)
    if migration.status in ("planned", "notified", "rolled_back"):
        return MigrationProgress(migration, [ConsumerProgress(c.key, c.owner, c.impact) for c in migration.consumers])
    graph = rescan(project)
    old = _old_name(migration)
    progress = []
    for consumer in migration.consumers:
        remaining = [Reference(u.file, u.line, u.column, u.role) for u in graph.uses
                     if u.workflow_id == consumer.workflow and u.job_id == consumer.job
                     and u.table == migration.table and old is not None and u.column == old]
        ran = (STANDALONE_RUN if consumer.workflow.endswith(tuple(STANDALONE_SUFFIXES))
               else _ran_since(project, consumer.workflow, consumer.job, migration.started_at or ""))
        progress.append(ConsumerProgress(consumer.key, consumer.owner, consumer.impact, remaining, ran))
    result = MigrationProgress(migration, progress)
    if migration.status == "started" and result.complete:
        migration.status = "complete"
        migration.history.append({"status": "complete", "at": dt.datetime.now(dt.UTC).isoformat()})
        save(project.state, migration)
    return result


STANDALONE_RUN = "untracked"
"""`ran_at` of a standalone move, stream or CDC file: its runs are not workflow runs, so its updated
code is all `status` can check."""


def _ran_since(project: Project, workflow: str, job: str, since: str) -> str | None:
    """When `workflow`'s `job` first succeeded in a run started after `since` (None: not yet)."""
    from towpath.status import Status

    runs = [r for r in project.state.list_runs(workflow_id=workflow, status=Status.SUCCESS, limit=200)
            if r.started_at > since]
    for run in sorted(runs, key=lambda r: r.started_at):
        if any(j.job_id == job and j.status == Status.SUCCESS for j in project.state.get_run(run.run_id).jobs):
            return run.started_at
    return None


def _old_name(migration: Migration) -> str | None:
    """The name consumers must stop using: a renamed or dropped column (a retyped one keeps its name)."""
    if migration.change.kind in ("rename_column", "drop_column"):
        return migration.change.column
    return None
