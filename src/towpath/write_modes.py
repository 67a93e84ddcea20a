"""The one write-mode vocabulary, for tables, workflow steps and every sink.

- `append`: add the rows.
- `overwrite`: afterwards the target holds exactly the written rows.
- `dynamic_overwrite`: replace only the partitions the rows fall in (Iceberg tables), so a
  rerun of a date is idempotent.
- `merge`: insert or update by key columns (SQL sinks today; Iceberg merge comes with CDC).

Each writer says which of them it supports as data (`TABLE_WRITE_MODES`, a sink's
`WRITE_MODES`) and refuses the others with `check_write_mode`, so a mode means the same thing
wherever it is written.

>>> check_write_mode("upsert", SQL_WRITE_MODES, where="postgres:orders")
Traceback (most recent call last):
...
towpath.errors.ConnectorError: postgres:orders: unknown write mode 'upsert'; expected one of append, overwrite, merge
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from towpath.errors import ConnectorError

__all__ = [
    "SQL_WRITE_MODES", "TABLE_WRITE_MODES", "WRITE_MODES", "SqlWriteMode", "TableWriteMode", "WriteMode", "check_write_mode",
]

WriteMode = Literal["append", "overwrite", "dynamic_overwrite", "merge"]
"""Every write mode towpath knows."""

TableWriteMode = Literal["append", "overwrite", "dynamic_overwrite"]
"""The modes an Iceberg table write takes (the catalog, engines, workflow steps, the Iceberg sink)."""

SqlWriteMode = Literal["append", "overwrite", "merge"]
"""The modes the SQL database sinks take (their tables have no partitions)."""

WRITE_MODES: tuple[WriteMode, ...] = get_args(WriteMode)
TABLE_WRITE_MODES: tuple[TableWriteMode, ...] = get_args(TableWriteMode)
SQL_WRITE_MODES: tuple[SqlWriteMode, ...] = get_args(SqlWriteMode)


def check_write_mode(mode: str, supported: Sequence[str], *, where: str) -> None:
    """Raise a `ConnectorError` naming `where` unless `mode` is one of `supported`."""
    if mode not in supported:
        raise ConnectorError(f"{where}: unknown write mode '{mode}'; expected one of {', '.join(supported)}")
