"""Errors of the state room: the store cannot be opened or written, or a run id is unknown."""

from __future__ import annotations

import difflib

from towpath.errors import TowpathError


class StateError(TowpathError):
    """The state store (runs, ledgers) cannot be opened, migrated or written."""


class RunNotFoundError(StateError):
    """A run id is not in the state store; suggests close ids."""

    def __init__(self, run_id: str, known: list[str]) -> None:
        close = difflib.get_close_matches(run_id, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else " See `towpath runs list`."
        super().__init__(f"No run '{run_id}' is recorded.{hint}")
        self.run_id, self.suggestions = run_id, close


class LeaseHeldError(StateError):
    """A role only one process may hold (a project's scheduler) is held by a live process."""

    def __init__(self, name: str, pid: int, host: str, since: str) -> None:
        super().__init__(f"{name} is already held by pid {pid} on {host} (since {since})")
        self.name, self.pid, self.host, self.since = name, pid, host, since


class LeaseLostError(StateError):
    """Another process took a lease over (this one stopped renewing it in time)."""


class OffsetConflictError(StateError):
    """Another writer moved a stream's offsets since this writer read them (it is fenced; nothing was written)."""

    def __init__(self, stream: str, moved: dict[str, tuple[int | None, int | None]]) -> None:
        detail = ", ".join(f"{key}: expected {exp!r}, recorded {found!r}" for key, (exp, found) in sorted(moved.items()))
        super().__init__(
            f"stream '{stream}': another writer moved the recorded offsets ({detail}); this writer was fenced and "
            "committed nothing (is a second instance of the same job running?)"
        )
        self.stream, self.moved = stream, moved
