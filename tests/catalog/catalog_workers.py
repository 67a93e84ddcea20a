"""Code run in child processes by the catalog tests (spawned, so it must be importable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_then_stop_before_the_commit(root: str, identifier: str, rows: int, files_down: Any) -> None:
    """Append once, then append again but stop just before the commit and set `files_down`.

    The second write's data files are on disk and referenced by no snapshot: the moment a
    kill -9 hurts most. The process then waits to be killed.
    """
    import threading

    from catalog_data import day_rows, open_catalog
    from pyiceberg.table import Transaction

    catalog = open_catalog(Path(root))
    data = day_rows("2024-02-01", rows)
    catalog.write(identifier, data)

    def stop(self: Transaction) -> None:
        files_down.set()
        threading.Event().wait()  # until SIGKILL

    Transaction.commit_transaction = stop  # type: ignore[method-assign]
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
