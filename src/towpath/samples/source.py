"""Fill a sample's source table with synthetic viewing sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from towpath.samples.viewing_data import SOURCE_DDL, generate_viewing_day

if TYPE_CHECKING:
    from towpath.catalog import Catalog


class HasCatalog(Protocol):
    """A `Project`, or a workflow's `RunContext`: anything with the project's catalog."""

    @property
    def catalog(self) -> Catalog: ...


def load_source_table(
    project: HasCatalog,
    table: str = "some_db.source_table",
    dates: Iterable[dt.date | str] = ("2022-01-01",),
    *,
    rows_per_day: int = 200_000,
    seed: int = 42,
) -> int:
    """Create `table` if needed and (re)write one partition per date; returns rows written.

    Each date is its own dynamic partition overwrite, so reloading a date is idempotent.
    """
    from sqlglot import exp

    from towpath.catalog.ddl import apply_ddl

    apply_ddl(project.catalog, SOURCE_DDL.format(table=exp.to_table(table).sql("spark")), dialect="spark")
    written = 0
    for date in dates:
        day = generate_viewing_day(date, rows_per_day, seed=seed)
        project.catalog.write(table, day, "dynamic_overwrite")
        written += day.num_rows
    return written
