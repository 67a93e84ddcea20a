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

The tables it hands out also keep each transaction's view of the metadata
(`_Transaction`): pyiceberg recomputes and deep-copies the whole metadata, every
snapshot's summary included, each time a commit asks for it — 35 times per seed
run, most of a partition overwrite's commit on a table with a few dozen snapshots.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

import sqlalchemy
from pyiceberg.catalog import Catalog as IcebergCatalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.io import FileIO
from pyiceberg.table import Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update import TableUpdate, update_table_metadata
from pyiceberg.table.update.snapshot import ManageSnapshots
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
        self._lock = threading.Lock()

    def load(self, identifier: str) -> Table:
        """The table as the catalog's pointer names it now; pyiceberg's errors for a missing one."""
        location = self._pointer(self.iceberg, identifier) if isinstance(self.iceberg, SqlCatalog) else None
        if location and (known := self._parsed.get(location)) is not None:
            return _Table(identifier=known.identifier, metadata=known.metadata, metadata_location=location,
                          io=known.io, catalog=self.iceberg)
        loaded = self.iceberg.load_table(identifier)
        self.remember(loaded)
        return _Table(identifier=loaded.name(), metadata=loaded.metadata, metadata_location=loaded.metadata_location,
                      io=loaded.io, catalog=loaded.catalog)

    def exists(self, identifier: str) -> bool:
        """Whether the catalog holds a table of this name (on the SQL catalog without reading its metadata)."""
        if isinstance(self.iceberg, SqlCatalog):
            return bool(self._pointer(self.iceberg, identifier))
        return self.iceberg.table_exists(identifier)

    def remember(self, table: Table) -> None:
        """Keep `table`'s metadata for its metadata file (after a commit: the file that commit wrote)."""
        with self._lock:
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


class _Table(Table):
    """A pyiceberg `Table` whose transactions compute their metadata once per change (`_Transaction`)."""

    def transaction(self) -> Transaction:
        return _Transaction(self)

    def manage_snapshots(self) -> ManageSnapshots:
        return ManageSnapshots(transaction=_Transaction(self, autocommit=True))


class _Transaction(Transaction):
    """pyiceberg's `Transaction`, with `table_metadata` kept until the table or the staged updates change.

    pyiceberg's property applies every staged update to the table's metadata and
    deep-copies the result on each read. The metadata models are frozen and
    nothing mutates what the property returns, so the same result serves every
    read until `_stage` adds updates (a new tuple) or a commit or retry replaces
    the table's metadata (a new object): both are checked by identity.
    """

    _memo: tuple[TableMetadata, tuple[TableUpdate, ...], TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        base, updates, memo = self._table.metadata, self._updates, self._memo
        if memo is None or memo[0] is not base or memo[1] is not updates:
            memo = self._memo = (base, updates, update_table_metadata(base, updates))
        return memo[2]
