"""The status words of runs, job runs and audits: one vocabulary for the run store, results, rendering and CLI filters.

They are `StrEnum`s, so a status compares equal to its string, serialises to
JSON as that string and is stored in the state room as text.

>>> Status.AUDIT_FAILED == "audit_failed"
True
>>> Status("killed").finished
True
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AuditStatus", "Status"]


class Status(StrEnum):
    """What happened to a run or one of its jobs."""

    RUNNING = "running"
    """Started and not finished (or its process died and nobody has noticed yet)."""
    SUCCESS = "success"
    FAILED = "failed"
    AUDIT_FAILED = "audit_failed"
    """A blocking audit failed; nothing was published."""
    SKIPPED = "skipped"
    """Not run: an earlier step failed, or the date was already done."""
    INTERRUPTED = "interrupted"
    """Stopped by the user (Ctrl-C / SIGTERM)."""
    KILLED = "killed"
    """Its process died without finishing the record (kill -9, OOM, power loss); found at reconciliation."""

    @property
    def finished(self) -> bool:
        """Whether the status is final."""
        return self is not Status.RUNNING

    @property
    def ok(self) -> bool:
        return self is Status.SUCCESS


class AuditStatus(StrEnum):
    """The outcome of one audit."""

    PASSED = "passed"
    FAILED = "failed"
    """Failing rows on a blocking audit: the publish is refused."""
    WARNED = "warned"
    """Failing rows on a non-blocking audit: reported, published anyway."""
