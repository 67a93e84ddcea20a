"""The message a run shows when blocking audits failed: which, a few failing rows, where to look."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from towpath.audits.runner import AuditResult

SAMPLE_ROWS = 3
"""Failing rows shown per audit."""


def failure_report(results: Sequence[AuditResult], *, table: str, branch: str | None = None) -> str:
    """Every failing blocking audit with up to `SAMPLE_ROWS` sample rows; with a WAP branch, that it is kept.

    >>> from towpath.audits.runner import AuditResult
    >>> bad = AuditResult("nn", "columns_should_not_have_nulls", "db.t", True, False, 1, [{"id": None}], "nn on db.t: 1 row has NULL id", "")
    >>> print(failure_report([bad], table="db.t"))
    1 blocking audit(s) failed on db.t: nn. Nothing was published.
      - nn on db.t: 1 row has NULL id
          {'id': None}
    """
    failed = [r for r in results if r.blocking and not r.passed]
    names = ", ".join(r.name for r in failed) or "none"
    where = f"branch '{branch}' of {table}" if branch else table
    lines = [f"{len(failed)} blocking audit(s) failed on {where}: {names}. Nothing was published."]
    for result in failed:
        lines.append(f"  - {result.message}")
        for row in result.sample[:SAMPLE_ROWS]:
            lines.append(f"      {row}")
    if branch:
        lines.append(f"The branch '{branch}' is kept for inspection; query it, fix the data or the job, and rerun.")
    return "\n".join(lines)
