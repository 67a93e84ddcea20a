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
Where it still applies updates (once per change, and again to stage a commit),
`apply_updates` does it without the closing deep copy.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from collections import OrderedDict
from typing import Any, NamedTuple

import sqlalchemy
from pyiceberg.catalog import Catalog as IcebergCatalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.io import FileIO
from pyiceberg.table import CommitTableResponse, StagedTable, Table, Transaction
from pyiceberg.table.locations import load_location_provider
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update import (
    TableRequirement,
    TableUpdate,
    _apply_table_update,
    _TableMetadataUpdateContext,
    _update_table_metadata_log,
)
from pyiceberg.table.update.snapshot import ManageSnapshots
from pyiceberg.typedef import Identifier
from pyiceberg.utils.datetime import datetime_to_millis

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
        self._pointers = _Pointers(iceberg) if isinstance(iceberg, SqlCatalog) else None

    def load(self, identifier: str) -> Table:
        """The table as the catalog's pointer names it now; pyiceberg's errors for a missing one."""
        location = self._pointers.get(identifier) if self._pointers is not None else None
        if location and (known := self._parsed.get(location)) is not None:
            return _Table(identifier=known.identifier, metadata=known.metadata, metadata_location=location,
                          io=known.io, catalog=self.iceberg)
        # pyiceberg's own load, not `self.iceberg.load_table`: on a `LoadingSqlCatalog` that is this method
        loaded = (SqlCatalog.load_table(self.iceberg, identifier) if isinstance(self.iceberg, SqlCatalog)
                  else self.iceberg.load_table(identifier))
        self.remember(loaded)
        return _Table(identifier=loaded.name(), metadata=loaded.metadata, metadata_location=loaded.metadata_location,
                      io=loaded.io, catalog=loaded.catalog)

    def exists(self, identifier: str) -> bool:
        """Whether the catalog holds a table of this name (on the SQL catalog without reading its metadata)."""
        if self._pointers is not None:
            return bool(self._pointers.get(identifier))
        return self.iceberg.table_exists(identifier)

    def remember(self, table: Table) -> None:
        """Keep `table`'s metadata for its metadata file (after a commit: the file that commit wrote)."""
        with self._lock:
            self._parsed[table.metadata_location] = _Parsed(table.name(), table.metadata, table.io)
            self._parsed.move_to_end(table.metadata_location)
            while len(self._parsed) > _KEEP:
                self._parsed.popitem(last=False)


_INHERITED: list[sqlite3.Connection] = []
"""Watch connections a forked child inherited: kept open, as closing SQLite's handle in a child can touch
the parent's locks."""


class _Pointers:
    """Each table's metadata pointer on a SQL catalog, queried again only after the database changed.

    A seed run looks its tables up ~30 times, each a SQLAlchemy query (~170 µs).
    On SQLite, `PRAGMA data_version` on a connection of our own (~6 µs) changes
    whenever any other connection, in any process, commits: while it stays the
    same, every pointer read since is still the pointer, and after it changed
    the pointer is read on that same connection. Commits go through
    SQLAlchemy's connections, never this one, so each shows as a new version.
    Elsewhere (PostgreSQL) each lookup is a SQLAlchemy query.
    """

    def __init__(self, iceberg: SqlCatalog) -> None:
        self.iceberg = iceberg
        self._known: dict[str, str | None] = {}
        self._version: tuple[int, int] | None = None
        self._watch: sqlite3.Connection | None = None
        self._watch_pid = 0
        self._lock = threading.Lock()
        self._file = _sqlite_file(iceberg.engine.url)

    def get(self, identifier: str) -> str | None:
        if self._file is None:
            return self._query(identifier)
        with self._lock:
            version = self._data_version()
            if version != self._version:
                self._known.clear()
                self._version = version
            elif identifier in self._known:
                return self._known[identifier]
            # On the watch connection, after the version: a commit in between shows as a new one.
            # Its plain sqlite3 query takes ~15 µs; SQLAlchemy's took ~170.
            namespace, _, name = identifier.rpartition(".")
            assert self._watch is not None
            row = self._watch.execute(_SQLITE_POINTER, (self.iceberg.name, namespace, name)).fetchone()
            location = None if row is None else row[0]
            self._known[identifier] = location
            return location

    def _data_version(self) -> tuple[int, int]:
        """(this process, the database's data version): a forked child opens its own connection."""
        if self._watch is None or self._watch_pid != os.getpid():
            assert self._file is not None
            if self._watch is not None:  # the parent's: never closed here, as SQLAlchemy leaves its pool's
                _INHERITED.append(self._watch)
            self._watch = sqlite3.connect(self._file, check_same_thread=False, isolation_level=None)
            self._watch_pid = os.getpid()
        return self._watch_pid, int(self._watch.execute("PRAGMA data_version").fetchone()[0])

    def _query(self, identifier: str) -> str | None:
        namespace, _, name = identifier.rpartition(".")
        with self.iceberg.engine.connect() as conn:
            return conn.execute(
                _POINTER, {"the_catalog": self.iceberg.name, "the_namespace": namespace, "the_name": name}
            ).scalar()


def move_pointer(conn: sqlalchemy.Connection, catalog: str, identifier: Identifier, old: str, new: str) -> None:
    """Point the table at `new` if it still points at `old` (the optimistic check of every SQL-catalog commit).

    Raises:
        CommitFailedException: another commit moved the pointer first.
    """
    namespace, name = ".".join(identifier[:-1]), identifier[-1]
    moved = conn.execute(_MOVE_POINTER, {
        "the_catalog": catalog, "the_namespace": namespace, "the_name": name, "the_location": old,
        "metadata_location": new, "previous_metadata_location": old,
    }).rowcount
    if moved < 1:
        raise CommitFailedException(f"Table has been updated by another process: {namespace}.{name}")


_MOVE_POINTER = sqlalchemy.update(IcebergTables).where(
    IcebergTables.catalog_name == sqlalchemy.bindparam("the_catalog"),
    IcebergTables.table_namespace == sqlalchemy.bindparam("the_namespace"),
    IcebergTables.table_name == sqlalchemy.bindparam("the_name"),
    IcebergTables.metadata_location == sqlalchemy.bindparam("the_location"),
)
"""`move_pointer`'s statement, built once (its SET comes from the parameters)."""
_POINTER = sqlalchemy.select(IcebergTables.metadata_location).where(
    IcebergTables.catalog_name == sqlalchemy.bindparam("the_catalog"),
    IcebergTables.table_namespace == sqlalchemy.bindparam("the_namespace"),
    IcebergTables.table_name == sqlalchemy.bindparam("the_name"),
)
"""A table's metadata pointer, built once: with its values as parameters SQLAlchemy reuses the compiled
query (0.2 ms less per lookup than a query built around literals)."""
_SQLITE_POINTER = (
    f"SELECT metadata_location FROM {IcebergTables.__tablename__} "
    "WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?"
)
"""`_POINTER` for the watch connection of a SQLite catalog (`_Pointers`)."""


class LoadingSqlCatalog(SqlCatalog):
    """pyiceberg's SQL catalog, its tables loaded through a `TableLoader` (`loader`).

    pyiceberg's `commit_table` reloads the table it commits to, to check the
    commit's requirements against the latest version and stage onto it: a second
    full parse of the metadata file per commit (a third of a branch cut's cost).
    Through the loader that reload is one pointer query when nobody committed
    in between, and the parse of a file seen before otherwise.

    On SQLite it also journals in WAL mode with `synchronous = NORMAL` (as the
    state room does): a commit then waits for no fsync (three or four per WAP run,
    a third of its commits' time), the file survives a killed process, and only a
    power cut can lose the last commits, as it can the data and metadata files,
    which nobody fsyncs either. Readers no longer wait for a writer.
    """

    def __init__(self, name: str, **properties: str) -> None:
        super().__init__(name, **properties)
        self.loader = TableLoader(self)
        if _sqlite_file(self.engine.url) is not None:  # in memory, the pool's one connection IS the database
            sqlalchemy.event.listen(self.engine, "connect", _wal_journal)
            self.engine.dispose()  # the connection pyiceberg opened to create its tables had neither setting

    def load_table(self, identifier: str | Identifier) -> Table:
        return self.loader.load(identifier if isinstance(identifier, str) else ".".join(identifier))

    def commit_table(
        self, table: Table, requirements: tuple[TableRequirement, ...], updates: tuple[TableUpdate, ...]
    ) -> CommitTableResponse:
        """pyiceberg's commit of an existing table (staged on its current version), its pointer moved by
        `move_pointer` rather than an ORM session built around the values (0.3 ms less per commit)."""
        try:
            current = self.load_table(table.name())
        except NoSuchTableError:  # creating it: pyiceberg's own path
            return super().commit_table(table, requirements, updates)
        staged = self._update_and_stage_table(current, table.name(), requirements, updates)
        if staged.metadata == current.metadata:
            return CommitTableResponse(  # type: ignore[call-arg]
                metadata=current.metadata, metadata_location=current.metadata_location
            )
        self._write_metadata(metadata=staged.metadata, io=staged.io, metadata_path=staged.metadata_location)
        with self.engine.begin() as conn:
            move_pointer(conn, self.name, table.name(), current.metadata_location, staged.metadata_location)
        return CommitTableResponse(  # type: ignore[call-arg]
            metadata=staged.metadata, metadata_location=staged.metadata_location
        )

    def _update_and_stage_table(
        self,
        current_table: Table | None,
        table_identifier: Identifier,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> StagedTable:
        """pyiceberg's staging of a commit, through `apply_updates` for an existing table."""
        if current_table is None:  # a new table: pyiceberg builds and validates it whole
            return super()._update_and_stage_table(current_table, table_identifier, requirements, updates)
        for requirement in requirements:
            requirement.validate(current_table.metadata)
        metadata = apply_updates(current_table.metadata, updates, current_table.metadata_location)
        version = self._parse_metadata_version(current_table.metadata_location) + 1
        location = load_location_provider(metadata.location, metadata.properties).new_table_metadata_file_location(version)
        io = self._load_file_io(properties=metadata.properties, location=location)
        return StagedTable(identifier=table_identifier, metadata=metadata, metadata_location=location, io=io, catalog=self)


def _sqlite_file(url: sqlalchemy.URL) -> str | None:
    """The file of a SQLite database URL; None for an in-memory one or another database."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def _wal_journal(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA journal_mode = WAL")  # persistent: a no-op once the file is in WAL mode
    dbapi_conn.execute("PRAGMA synchronous = NORMAL")


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
    _cuts_branch = False

    @property
    def table_metadata(self) -> TableMetadata:
        base, updates, memo = self._table.metadata, self._updates, self._memo
        if memo is None or memo[0] is not base or memo[1] is not updates:
            memo = self._memo = (base, updates, apply_updates(base, updates))
        return memo[2]

    def cut_branch(self, snapshot_id: int, branch: str) -> None:
        """Stage a new `branch` at `snapshot_id`, so the branch and the first write to it are one commit.

        The write staged next (its snapshot producer) then takes the new branch's
        head as its parent. Of the two requirements on `branch`, the transaction
        keeps the first, the cut's: the branch must not exist yet.
        """
        ManageSnapshots(transaction=self).create_branch(snapshot_id, branch).commit()
        self._cuts_branch = True

    def _rebuild_snapshot_updates(self) -> None:
        """pyiceberg's retry after a concurrent commit, refused when this transaction cuts a branch.

        pyiceberg rebuilds a retry by dropping every staged ref update, the cut's
        with them, and staging the write again on the reloaded table: its
        snapshot would start a parentless branch holding only the new rows. The
        `CommitFailedException` hands the retry to `Catalog.commit_with_retry`,
        which redoes the cut and the write together.
        """
        if self._cuts_branch:
            raise CommitFailedException("a concurrent commit won: the branch cut and its first write are redone together")
        super()._rebuild_snapshot_updates()


def cut_branch(txn: Transaction, snapshot_id: int, branch: str) -> None:
    """Stage a new `branch` at `snapshot_id` in `txn`, a transaction of a table this module loaded (`_Transaction.cut_branch`)."""
    if not isinstance(txn, _Transaction):
        raise TypeError(f"a branch cut needs a table loaded through a TableLoader, not {type(txn).__name__}")
    txn.cut_branch(snapshot_id, branch)


def apply_updates(
    base: TableMetadata, updates: tuple[TableUpdate, ...], metadata_location: str | None = None
) -> TableMetadata:
    """pyiceberg's `update_table_metadata` for an existing table, without the deep copy it ends with.

    That copy duplicates every snapshot, summary and log entry, so its cost grows
    with the table's history (2.8 ms at 96 snapshots) and a WAP run pays it seven
    times. It guards against in-place changes nobody makes: the metadata models
    are frozen, and each update builds new lists and dicts rather than changing
    the base's, so the result can share them with `base` as it stands.
    """
    context = _TableMetadataUpdateContext()
    metadata = base
    for update in updates:
        metadata = _apply_table_update(update, metadata, context)
    if context.has_changes():
        if metadata_location:
            metadata = _update_table_metadata_log(metadata, metadata_location, base.last_updated_ms)
        if base.last_updated_ms == metadata.last_updated_ms:
            metadata = metadata.model_copy(update={"last_updated_ms": datetime_to_millis(dt.datetime.now().astimezone())})
    metadata.spec().check_compatible(metadata.schema())
    metadata.sort_order().check_compatible(metadata.schema())
    return metadata
