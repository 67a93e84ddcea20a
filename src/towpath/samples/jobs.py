"""Packaged workflow jobs of the samples: the step that gives a fresh sample real-looking data.

A generated main workflow starts with

    - job: {id: source, type: python, callable: towpath.samples.jobs:ensure_source_data}

so its first run, with no edits, has a source table to read. The callable is an
installed module, so it resolves from any workflow folder.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import TYPE_CHECKING

from towpath.errors import SpecError

if TYPE_CHECKING:
    from towpath.workflows.context import JobContext

DEFAULT_ROWS_PER_DAY = 200_000
DEFAULT_SEED = 42

_create_lock = threading.Lock()
"""A parallel backfill runs several dates in threads of one process; the first creates the table."""


def _int_param(ctx: JobContext, name: str, default: int) -> int:
    value = ctx.params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(str(value).replace("_", ""))
    except ValueError:
        raise SpecError(f"expected a whole number, got '{value}'", field=f"params.{name}") from None
    if number < 0:
        raise SpecError(f"expected a number >= 0, got {number}", field=f"params.{name}")
    return number


def ensure_source_data(ctx: JobContext) -> None:
    """Create `${SOURCE_TABLE}` and fill the run date's partition with synthetic sessions if it is empty.

    Parameters (workflow params or `-p`): `SOURCE_TABLE` (required), `DATE` (the run date),
    `SOURCE_ROWS_PER_DAY` (default 200000; 0 only creates the table) and `SOURCE_SEED`
    (default 42). A day that already has rows is left alone, so real data loaded into the
    table is never replaced and reruns are cheap.
    """
    from pyiceberg.expressions import EqualTo, Reference
    from pyiceberg.expressions.literals import literal
    from sqlglot import exp

    from towpath.catalog import apply_ddl
    from towpath.samples.source import load_source_table
    from towpath.samples.viewing_data import SOURCE_DDL

    table = ctx.params.get("SOURCE_TABLE")
    if not table:
        raise SpecError("the source step needs the parameter SOURCE_TABLE (db.table)", field="params.SOURCE_TABLE")
    date = dt.date.fromisoformat(str(ctx.params.get("DATE") or ctx.execution_date)[:10])
    rows = _int_param(ctx, "SOURCE_ROWS_PER_DAY", DEFAULT_ROWS_PER_DAY)
    seed = _int_param(ctx, "SOURCE_SEED", DEFAULT_SEED)
    catalog = ctx.run.catalog
    with _create_lock:  # pyiceberg's SQL catalog fails on a concurrent create of the same namespace
        if not catalog.exists(table):
            apply_ddl(catalog, SOURCE_DDL.format(table=exp.to_table(table).sql("spark")), dialect="spark")
    if rows == 0 or catalog.plan_scan(table, EqualTo(term=Reference("date"), value=literal(date))).files:
        return
    load_source_table(ctx.run, table, [date], rows_per_day=rows, seed=seed)
