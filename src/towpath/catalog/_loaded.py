"""Load tables without re-reading metadata files the catalog already parsed.

One seed run asked the catalog for its tables 32 times (plans, writes,
commits with their retries, audits, publish, marks), and pyiceberg's
`load_table` reads and parses the whole metadata file each time: ~2 ms per
load with a few dozen snapshots, ~60 ms per run. A metadata file never
changes once written (every commit writes a new one and moves the table's
pointer), so a parse is good for as long as the pointer names that file.

On the SQL catalog a load is therefore one indexed query for the pointer and,
when it names a file parsed before, a new `Table` over the same (frozen)
metadata; otherwise pyiceberg's own load. A new `Table` each time, never a
shared one: a commit updates its `Table` in place, and one caller's commit
must not change another's view mid-transaction. Other catalogs (REST) load as
before: there the pointer check is the load.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import sqlalchemy
from pyiceberg.catalog import Catalog as IcebergCatalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.io import FileIO
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.typedef import Identifier

_KEEP = 128
"""Parsed metadata files kept (a few per table: its head and the one before a commit)."""


class _Parsed(NamedTuple):
    identifier: Identifier
    metadata: TableMetadata
    io: FileIO


class TableLoader:
    """`load(identifier)`: pyiceberg's `load_table`, reusing the parse of a metadata file seen before."""

    def __init__(self, iceberg: IcebergCatalog) -> None:
        self.iceberg = iceberg
        self._parsed: OrderedDict[str, _Parsed] = OrderedDict()

    def load(self, identifier: str) -> Table:
        """The table as the catalog's pointer names it now; pyiceberg's errors for a missing one."""
        if isinstance(self.iceberg, SqlCatalog) and (location := self._pointer(self.iceberg, identifier)):
            if (known := self._parsed.get(location)) is not None:
                return Table(identifier=known.identifier, metadata=known.metadata, metadata_location=location,
                             io=known.io, catalog=self.iceberg)
        table = self.iceberg.load_table(identifier)
        self.remember(table)
        return table

    def remember(self, table: Table) -> None:
        """Keep `table`'s metadata for its metadata file (after a commit: the file that commit wrote)."""
        self._parsed[table.metadata_location] = _Parsed(table.name(), table.metadata, table.io)
        self._parsed.move_to_end(table.metadata_location)
        while len(self._parsed) > _KEEP:
            self._parsed.popitem(last=False)

    @staticmethod
    def _pointer(iceberg: SqlCatalog, identifier: str) -> str | None:
        namespace, _, name = identifier.rpartition(".")
        query = sqlalchemy.select(IcebergTables.metadata_location).where(
            IcebergTables.catalog_name == iceberg.name,
            IcebergTables.table_namespace == namespace,
            IcebergTables.table_name == name,
        )
        with iceberg.engine.connect() as conn:
            return conn.execute(query).scalar()
