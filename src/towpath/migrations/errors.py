"""Errors of the migrations room."""

from __future__ import annotations

import difflib

from towpath.errors import TowpathError


class MigrationError(TowpathError):
    """A migration cannot be planned, applied, rolled back or finished as asked."""


class MigrationNotFoundError(MigrationError):
    def __init__(self, migration_id: str, known: list[str]) -> None:
        close = difflib.get_close_matches(migration_id, known, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else " See `towpath migration status`."
        super().__init__(f"No migration '{migration_id}' is recorded.{hint}")
        self.migration_id = migration_id
