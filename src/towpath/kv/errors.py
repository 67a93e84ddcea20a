"""Errors of the KV room: every one is a `KvError`, itself a `TowpathError`."""

from __future__ import annotations

from towpath.errors import TowpathError, TransientError


class KvError(TowpathError):
    """A key-value store refused or failed an operation; names the store and the namespace."""


class KvUrlError(KvError):
    """A KV store URL is malformed or names an unknown engine or option."""


class NamespaceNotFoundError(KvError):
    """A namespace (or an alias) does not exist in the store."""

    def __init__(self, name: str, store: str, known: list[str] | None = None) -> None:
        import difflib

        close = difflib.get_close_matches(name, known or [], n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"{store}: no namespace or alias '{name}'.{hint}")
        self.name, self.store = name, store


class NamespaceExistsError(KvError):
    """`create_namespace` was asked for a namespace that already exists."""


class NamespaceInUseError(KvError):
    """A namespace an alias points to cannot be dropped (repoint the alias first)."""


class InvalidNameError(KvError):
    """A namespace or alias name is empty, too long, or has characters outside `[A-Za-z0-9_.-]`."""


class KvAuthError(KvError):
    """The KV service refused a call: no token, or the wrong one, for a write/admin (or read) call."""


class KvUnavailableError(KvError, TransientError):
    """The store or service cannot be reached (connection refused or reset, timeout): worth retrying."""
