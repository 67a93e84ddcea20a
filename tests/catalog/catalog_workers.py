"""Code run in child processes by the catalog tests (spawned, so it must be importable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_big_forever(root: str, identifier: str, rows: int) -> None:
    """Append `rows`-row batches to the table until killed."""
    from catalog_data import day_rows, open_catalog

    catalog = open_catalog(Path(root))
    data = day_rows("2024-02-01", rows)
    while True:
        catalog.write(identifier, data)


def overwrite_date(root: str, identifier: str, day: str, rows: int, barrier: Any, out: Any) -> None:
    """Wait for the other writer, dynamic-overwrite `day`; on ConflictError report it and retry once."""
    from catalog_data import day_rows, open_catalog

    from towpath.errors import ConflictError

    catalog = open_catalog(Path(root))
    data = day_rows(day, rows)
    barrier.wait()
    try:
        catalog.write(identifier, data, "dynamic_overwrite")
        out.put((day, "ok"))
    except ConflictError:
        catalog.write(identifier, data, "dynamic_overwrite")
        out.put((day, "conflict-then-ok"))
