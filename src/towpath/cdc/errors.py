"""Errors of change data capture: each says where the stream stopped and what to run next."""

from __future__ import annotations

from towpath.errors import TowpathError


class CdcError(TowpathError):
    """A change-data-capture job could not go on."""


class SourceError(CdcError):
    """The source database refused a replication step (no logical WAL, no binlog, no privilege, gone)."""


class SlotLostError(CdcError):
    """The source no longer holds the changes after the targets' position: they must be re-snapshotted.

    Raised when the PostgreSQL replication slot is gone or invalidated, or the
    MySQL binlog file the targets stopped in was purged.
    """

    def __init__(self, what: str, *, position: str, spec_file: str) -> None:
        super().__init__(
            f"{what}; the targets stopped at {position} and the changes after it are gone. "
            f"Re-snapshot with: towpath cdc run {spec_file} --resnapshot"
        )
        self.position, self.spec_file = position, spec_file


class SchemaChangeError(CdcError):
    """A source column was dropped or changed type: the targets cannot follow on their own."""

    def __init__(self, table: str, change: str, *, position: str) -> None:
        super().__init__(
            f"source table {table}: {change}; stopped before the change, every target is at {position}. "
            "Evolve the targets by hand (or re-snapshot with --resnapshot), then run again"
        )
        self.table, self.change, self.position = table, change, position
