"""The Iceberg branch publisher: stage = a branch per table from `main`, publish = fast-forward every `main` at once.

A staged branch is reserved, not committed (`towpath.catalog.stage_branch`): the
first write to it cuts it in the write's own commit, so a WAP commits each
table twice (write, publish), and a kept branch nobody wrote is cut for
inspection.

Publishing several tables is one catalog commit (`towpath.catalog.publish_branches`),
so readers see all of a WAP's tables move together or none. Every staged branch
is recorded in the state store's staging ledger (which run, which attempt, and
why it still exists), so `towpath table branches` can explain each one and the
housekeeping after a publish can drop branches that nobody will inspect: those
older than `wap_branch_retention`, and those whose run died.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from towpath.catalog import (
    MAIN,
    Catalog,
    cut_reserved_branch,
    drop_branch,
    expire_snapshots,
    list_branches,
    normalize_identifier,
    publish_branches,
    require_multi_table_commit,
    stage_branch,
)
from towpath.errors import CatalogError
from towpath.publish.base import Published, Staged
from towpath.state import StateStore
from towpath.status import Status

log = logging.getLogger(__name__)

WAP_PREFIX = "wap_"
"""Branches towpath's WAP template cuts; housekeeping never touches other branches."""
DEAD = (Status.KILLED, Status.INTERRUPTED)


@dataclass(frozen=True)
class Retention:
    """What the housekeeping after a publish removes."""

    snapshots_older_than: dt.timedelta | None = dt.timedelta(days=7)
    retain_last: int = 10
    branches_older_than: dt.timedelta | None = dt.timedelta(days=7)


@dataclass(frozen=True)
class WapBranch:
    """A WAP branch of a table, with the run that made it and why it still exists."""

    table: str
    name: str
    snapshot_id: int
    run_id: str | None
    run_status: Status | None
    attempt: int | None
    age_s: float
    reason: str | None
    """Why it was kept (the failed audits), or what happened to its run."""


class IcebergBranchPublisher:
    """`Publisher` over Iceberg branches of `tables` (atomic across tables on SQL and capable REST catalogs)."""

    KIND: ClassVar[str] = "iceberg-branch"

    def __init__(
        self, catalog: Catalog, tables: Sequence[str], *, state: StateStore, run_id: str, job_id: str,
        retention: Retention | None = None,
    ) -> None:
        self.catalog, self.state, self.run_id, self.job_id = catalog, state, run_id, job_id
        self._targets = tuple(dict.fromkeys(normalize_identifier(t) for t in tables))
        self.retention = retention

    @property
    def targets(self) -> tuple[str, ...]:
        return self._targets

    def stage(self, name: str, *, attempt: int) -> Staged:
        if len(self._targets) > 1:
            require_multi_table_commit(self.catalog.iceberg)
        staged = Staged(name=name, attempt=attempt, refs=dict.fromkeys(self._targets, name))
        try:
            for table in self._targets:
                self.state.stagings.record(self.KIND, table, name, run_id=self.run_id, job_id=self.job_id, attempt=attempt)
                stage_branch(self.catalog, table, name)  # the first write cuts it, in its own commit
        except BaseException:
            self.discard(staged)
            raise
        return staged

    def publish(self, staged: Staged) -> Published:
        heads = publish_branches(self.catalog, staged.refs)
        for table in staged.refs:
            self.state.stagings.mark(self.KIND, table, staged.name, "published")
        return Published(versions=heads, housekeeping=self._housekeeping(staged))

    def discard(self, staged: Staged) -> None:
        for table, branch in staged.refs.items():
            try:
                drop_branch(self.catalog, table, branch)
            except CatalogError:  # the attempt may have stopped before this table's branch existed
                log.debug("no branch %s of %s to drop", branch, table)
            self.state.stagings.mark(self.KIND, table, branch, "discarded")

    def keep(self, staged: Staged, reason: str) -> None:
        """Leave `staged` in place for inspection (a blocking audit failed), saying why."""
        for table, branch in staged.refs.items():
            cut_reserved_branch(self.catalog, table, branch)  # a table nobody wrote: its branch, to look at
            self.state.stagings.mark(self.KIND, table, branch, "kept", reason)

    def _housekeeping(self, staged: Staged) -> dict[str, Any]:
        """Bound each table's history and drop WAP branches nobody will inspect; never fails the publish."""
        if self.retention is None:
            return {}
        done: dict[str, Any] = {}
        for table in staged.refs:
            try:
                if self.retention.snapshots_older_than is not None:
                    expired = expire_snapshots(
                        self.catalog, table, older_than=self.retention.snapshots_older_than,
                        retain_last=self.retention.retain_last,
                    )
                    if expired:
                        done.setdefault("expired_snapshots", {})[table] = len(expired)
                dropped = drop_wap_branches(
                    self.catalog, self.state, table, older_than=self.retention.branches_older_than, dead_runs=True,
                )
                if dropped:
                    done.setdefault("dropped_branches", {})[table] = dropped
            except CatalogError as exc:  # e.g. a concurrent commit kept winning: the next publish tidies
                log.warning("housekeeping of %s after publishing %s skipped: %s", table, staged.name, exc)
        return done


def wap_branches(catalog: Catalog, state: StateStore, table: str, *, at: dt.datetime | None = None) -> list[WapBranch]:
    """Every branch of `table` but `main`, oldest first, with its run, age and why it exists."""
    ident = normalize_identifier(table)
    at = at or dt.datetime.now(dt.UTC)
    branches = {name: snapshot_id for name, snapshot_id in list_branches(catalog, ident).items() if name != MAIN}
    if not branches:
        return []
    records = state.stagings.of_target(IcebergBranchPublisher.KIND, ident, refs=branches)
    iceberg_table = catalog.table(ident)
    out = []
    for name, snapshot_id in branches.items():
        record = records.get(name)
        if record is not None:
            born = dt.datetime.fromisoformat(record.created_at)
        else:
            snap = iceberg_table.metadata.snapshot_by_id(snapshot_id)
            born = dt.datetime.fromtimestamp(snap.timestamp_ms / 1000, tz=dt.UTC) if snap else at
        status = state.run_status(record.run_id) if record else None
        reason = record.reason if record and record.reason else None
        if reason is None and status in DEAD:
            reason = f"its run was {status}"
        out.append(WapBranch(
            table=ident, name=name, snapshot_id=snapshot_id, run_id=record.run_id if record else None,
            run_status=status, attempt=record.attempt if record else None, age_s=(at - born).total_seconds(),
            reason=reason,
        ))
    return sorted(out, key=lambda b: -b.age_s)


def drop_wap_branches(
    catalog: Catalog,
    state: StateStore,
    table: str,
    *,
    names: Sequence[str] = (),
    older_than: dt.timedelta | None = None,
    dead_runs: bool = False,
    at: dt.datetime | None = None,
) -> list[str]:
    """Drop the named branches, and WAP branches older than `older_than` or whose run died; returns the dropped.

    Branches of running runs are never dropped by age or death (they are being
    written); a name that is not a branch is an error.
    """
    ident = normalize_identifier(table)
    branches = {b.name: b for b in wap_branches(catalog, state, ident, at=at)}
    unknown = [n for n in names if n not in branches]
    if unknown:
        raise CatalogError(f"table '{ident}' has no branch {', '.join(repr(n) for n in unknown)} (branches: {sorted(branches)})")
    doomed = list(names)
    for branch in branches.values():
        if branch.name in doomed or not branch.name.startswith(WAP_PREFIX) or branch.run_status is Status.RUNNING:
            continue
        too_old = older_than is not None and branch.age_s > older_than.total_seconds()
        if too_old or (dead_runs and branch.run_status in DEAD):
            doomed.append(branch.name)
    for name in doomed:
        drop_branch(catalog, ident, name)
        state.stagings.mark(IcebergBranchPublisher.KIND, ident, name, "discarded")
    return doomed
