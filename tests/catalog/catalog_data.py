"""Shared data and helpers of the catalog tests (a uniquely named module, so child processes and
other test folders never pick up another folder's `conftest`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from towpath.catalog import Catalog
from towpath.config.project import ProjectConfig

SEED_DDL = """CREATE TABLE IF NOT EXISTS foo.dataflow_sample_results (
title_id INT COMMENT "Title ID of the movie or show."
, country_code STRING COMMENT "Country code of the playback session."
, title_rank INT COMMENT "Rank of a given title in a given country."
, view_hours DOUBLE COMMENT "Total viewing hours of a given title in a given country."
)
COMMENT
"Example dataset brought to you by Dataflow. For more information on this
and other examples please visit the Dataflow documentation page."
PARTITIONED BY (
date DATE COMMENT "Playback date."
)
STORED AS ICEBERG;
"""
"""The DDL of the seed's Dataflow sample workflow, verbatim (with `${TARGET_DB}` = foo)."""

RESULTS = "foo.dataflow_sample_results"


def open_catalog(root: Path) -> Catalog:
    """The project catalog under `root/.towpath/` (also used from child processes)."""
    return Catalog.open(ProjectConfig(), root)


def day_rows(day: str, n: int, *, start: int = 0) -> pa.Table:
    """`n` result rows for one playback date."""
    return pa.table(
        {
            "title_id": pa.array(range(start, start + n), pa.int32()),
            "country_code": pa.array(["US"] * n),
            "title_rank": pa.array([i % 100 for i in range(n)], pa.int32()),
            "view_hours": pa.array([float(i) for i in range(n)]),
            "date": pa.array([dt.date.fromisoformat(day)] * n),
        }
    )


class RacingCatalog(Catalog):
    """A real catalog that lets another writer commit right after a table is loaded (the race window)."""

    race: object = None

    def table(self, identifier: str, *, write: bool = False):  # type: ignore[no-untyped-def]
        loaded = super().table(identifier, write=write)
        race, self.race = self.race, None
        if callable(race):
            race()
        return loaded
