"""What a federated query raises: an unknown connection or table, a source that will not open."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from towpath.errors import EngineError

__all__ = ["ConnectionFailedError", "FederationError", "UnknownSourceTableError"]


class FederationError(EngineError):
    """A federated query could not reach or read one of its connections."""


class ConnectionFailedError(FederationError):
    """A connection would not open (the message never holds its secret)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"cannot open connection '{name}': {reason}")
        self.connection = name


class UnknownSourceTableError(FederationError):
    """A query names a table its connection does not have; suggests close names."""

    def __init__(self, identifier: str, known: Iterable[str]) -> None:
        close = difflib.get_close_matches(identifier, list(known), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"Table '{identifier}' does not exist.{hint}")
        self.identifier, self.suggestions = identifier, close
