"""Errors of the audit room."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from towpath.errors import AuditError

if TYPE_CHECKING:
    from towpath.audits.runner import AuditResult

_SAMPLE_ROWS = 3


class AuditFailedError(AuditError):
    """Blocking audits failed on a WAP branch; nothing was published and the branch is kept.

    The message names every failing blocking audit with up to three sample rows and
    says where to look; the facts stay available as attributes (`results`,
    `table`, `branch`) for the runner and the run-state store.
    """

    def __init__(self, results: Sequence[AuditResult], *, table: str, branch: str | None = None) -> None:
        self.results = [r for r in results if r.blocking and not r.passed]
        self.table, self.branch = table, branch
        names = ", ".join(r.name for r in self.results) or "none"
        where = f"branch '{branch}' of {table}" if branch else table
        lines = [f"{len(self.results)} blocking audit(s) failed on {where}: {names}. Nothing was published."]
        for result in self.results:
            lines.append(f"  - {result.message}")
            for row in result.sample[:_SAMPLE_ROWS]:
                lines.append(f"      {row}")
        if branch:
            lines.append(
                f"The branch '{branch}' is kept for inspection; query it, fix the data or the job, and rerun."
            )
        super().__init__("\n".join(lines))

    @property
    def failed_audits(self) -> list[str]:
        """Names of the failing blocking audits, in run order."""
        return [r.name for r in self.results]
