"""A migration as the state room keeps it: the change, who it affects, what was said and done.

Stored in `MigrationLedger` (one row per migration; `details` holds this record
as JSON; the checksum is the change's, so a migration id never silently changes
meaning).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from towpath.migrations.change import Change
from towpath.migrations.errors import MigrationNotFoundError

if TYPE_CHECKING:
    from towpath.state import StateStore

__all__ = ["Consumer", "Migration", "Reference", "load", "load_all", "save"]

STATUSES = ("planned", "notified", "started", "complete", "finished", "rolled_back")


@dataclass(frozen=True)
class Reference:
    """A line of code that names the changed column (or table)."""

    file: str | None
    line: int | None
    column: str | None
    role: str
    """`read`, `write` or `ddl`."""
    text: str = ""
    """The line as it was when the migration was planned."""

    @property
    def at(self) -> str:
        return f"{self.file}:{self.line}" if self.line else (self.file or "?")


@dataclass
class Consumer:
    """A job affected by the change: directly (it reads the table) or through a table it feeds."""

    workflow: str
    job: str
    owner: str | None
    impact: str
    """`breaking` or `additive`."""
    references: list[Reference] = field(default_factory=list)
    via: str | None = None
    """For an indirect consumer: the downstream column it reads that the changed column feeds."""

    @property
    def key(self) -> str:
        return f"{self.workflow}.{self.job}"


@dataclass
class Migration:
    id: str
    table: str
    change: Change
    reason: str | None
    deadline: str | None
    """ISO date by which consumers must have moved."""
    created_at: str
    status: str = "planned"
    table_owner: str | None = None
    consumers: list[Consumer] = field(default_factory=list)
    owners: dict[str, list[str]] = field(default_factory=dict)
    """Owner (person or team alias) -> addresses (empty when an alias is not configured)."""
    backfill: str | None = None
    """For a breaking change: the SQL that fills the new table."""
    new_table: str | None = None
    applied: dict[str, Any] = field(default_factory=dict)
    """What `start` did (schema ids, snapshot ids), so `rollback` can undo it."""
    started_at: str | None = None
    finished_at: str | None = None
    notices: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Notice key -> when it was sent and how each channel took it (a key is never sent twice)."""
    history: list[dict[str, str]] = field(default_factory=list)
    """Status changes: {status, at}."""

    @property
    def breaking(self) -> bool:
        return any(c.impact == "breaking" for c in self.consumers)

    def consumers_of(self, owner: str | None) -> list[Consumer]:
        return [c for c in self.consumers if c.owner == owner]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["change"] = self.change.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Migration:
        consumers = [Consumer(**{**c, "references": [Reference(**r) for r in c["references"]]})
                     for c in data.get("consumers", [])]
        return cls(**{**data, "change": Change.from_json(data["change"]), "consumers": consumers})


def checksum(migration: Migration) -> str:
    """Of what the migration is (its table and change): never of its progress."""
    text = json.dumps([migration.table, migration.change.to_json()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save(state: StateStore, migration: Migration) -> None:
    state.migrations.record(migration.id, checksum(migration), status=migration.status, details=migration.to_json())


def load_all(state: StateStore) -> list[Migration]:
    return [Migration.from_json(m.details) for m in state.migrations.applied() if "change" in m.details]


def summaries(state: StateStore) -> list[dict[str, Any]]:
    """One line per migration (id, table, change, status, deadline): `migration status` without an id."""
    return [{"id": m.id, "table": m.table, "change": m.change.describe(), "status": m.status,
             "deadline": m.deadline} for m in load_all(state)]


def load(state: StateStore, migration_id: str) -> Migration:
    """Raises `MigrationNotFoundError` (with the closest id) for an unknown id."""
    found = load_all(state)
    for migration in found:
        if migration.id == migration_id:
            return migration
    raise MigrationNotFoundError(migration_id, [m.id for m in found])
