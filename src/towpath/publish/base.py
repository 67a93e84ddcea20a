"""The Write-Audit-Publish protocol every kind of output implements.

A publisher stages a new version of its targets that readers of the published
version cannot see, lets the caller write and audit that staged version (reads
and writes are redirected through `Staged.refs`), then makes it visible in ONE
atomic step or refuses with `ConflictError` when someone else published first.
An Iceberg branch per table is the first implementation; a key-value namespace
version behind an alias and a stream window carrying Kafka offsets follow the
same four calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class Staged:
    """One staged, not yet visible version of a publisher's targets."""

    name: str
    """The version's name (for Iceberg: the branch every target got)."""
    attempt: int
    refs: Mapping[str, str]
    """Target -> where this attempt reads and writes it (`db.table` -> branch)."""


@dataclass(frozen=True)
class Published:
    """What became visible."""

    versions: Mapping[str, int | None]
    """Target -> the now-visible version (for Iceberg: `main`'s new snapshot id; None: nothing was written)."""
    housekeeping: Mapping[str, Any] = field(default_factory=dict)
    """What the publisher tidied afterwards (expired snapshots, dropped old branches)."""


class Publisher(Protocol):
    """Stage, (the caller writes and audits), publish atomically or discard."""

    KIND: ClassVar[str]
    """Name recorded with every staging in the state store (`iceberg-branch`)."""

    @property
    def targets(self) -> tuple[str, ...]: ...

    def stage(self, name: str, *, attempt: int) -> Staged:
        """Create the invisible version `name`; raises if the targets cannot be published together."""
        ...

    def publish(self, staged: Staged) -> Published:
        """Make `staged` visible for every target in one atomic step.

        Raises:
            ConflictError: another writer published since `stage`; nothing became visible.
        """
        ...

    def discard(self, staged: Staged) -> None:
        """Remove a staged version that will not be published (idempotent)."""
        ...

    def keep(self, staged: Staged, reason: str) -> None:
        """Leave a staged version that failed its audits in place for inspection, recording why."""
        ...
