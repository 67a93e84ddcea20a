"""Setting high-water marks once at the end of a daily or backfill run.

The runs of a daily or backfill hand their `hwm` steps' marks to a
`DeferredMarks` collector. At the end each table's mark moves (forward only)
to the newest mark of a date that published with no failed date at or before
it: a mark says "complete up to here", so it may not jump over a failed date,
and never lands on one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from towpath.catalog import Catalog, set_hwm
from towpath.workflows.context import DeferredMark


def settle_marks(
    catalog: Catalog,
    marks: Iterable[DeferredMark],
    *,
    published: Iterable[str],
    failed: Iterable[str],
    extra: Mapping[str, dt.datetime] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Set each table's mark once; returns (table -> mark set, table -> newer mark kept)."""
    first_failure = min(failed, default=None)
    done = set(published)
    newest: dict[str, dt.datetime] = dict(extra or {})
    for mark in marks:
        if mark.execution_date not in done or (first_failure is not None and mark.execution_date >= first_failure):
            continue
        if mark.table not in newest or mark.mark > newest[mark.table]:
            newest[mark.table] = mark.mark
    moved: dict[str, str] = {}
    kept: dict[str, str] = {}
    for table, value in sorted(newest.items()):
        change = set_hwm(catalog, table, value)
        (kept if change.kept_newer else moved)[table] = change.stored.isoformat()
    return moved, kept
