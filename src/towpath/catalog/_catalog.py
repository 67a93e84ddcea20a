"""The project's Iceberg catalog: open it, find tables, plan scans, write Arrow.

Everything else in the catalog room (DDL, branches, metadata, high-water marks)
builds on this class. Other rooms reach tables only through it.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import sqlalchemy
from pyiceberg.catalog import Catalog as IcebergCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchNamespaceError,
    NoSuchTableError,
)
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table, Transaction
from pyiceberg.table.snapshots import Snapshot

from towpath.catalog import _manifests, _memory, _threads
from towpath.catalog._commit import TableChange, commit_tables
from towpath.catalog._loaded import TableLoader, cut_branch
from towpath.catalog._opened import open_catalog
from towpath.catalog._overwrite import can_replace_partitions, commit_data_files, replace_partitions
from towpath.catalog.counts import ScanCounts, whole_file_counts
from towpath.config.project import ProjectConfig
from towpath.errors import CatalogError, ConflictError, SchemaMismatchError, TableNotFoundError
from towpath.write_modes import TableWriteMode

WriteMode = TableWriteMode  # the one write-mode vocabulary: towpath/write_modes.py
"""append: add rows; overwrite: replace all rows; dynamic_overwrite: replace the partitions present in the data."""

MAIN = "main"
COMMIT_ATTEMPTS = 6
SQLITE_LOCK_TIMEOUT_S = 60
ALL_ROWS: BooleanExpression = AlwaysTrue()
T = TypeVar("T")


def normalize_identifier(name: str) -> str:
    """`catalog/db/table`, `db/table` or `db.table` -> `db.table` (lower-cased)."""
    name = name.strip().strip("`\"")
    if "/" in name:
        parts = [p for p in name.split("/") if p]
        name = ".".join(parts[-2:])
    if "." not in name:
        raise CatalogError(f"table name '{name}' must be qualified as 'namespace.table'")
    return name.lower()


class UnstagedWriteError(CatalogError):
    """A write inside a Write-Audit-Publish attempt to a table (or ref) the attempt did not stage."""


@dataclass(frozen=True)
class WriteScope:
    """Inside a WAP attempt: the only `db.table` -> branch writes allowed."""

    owner: str
    """Who set the scope, for the message (`WAP template 'publish'`)."""
    refs: Mapping[str, str]


_WRITE_SCOPE: ContextVar[WriteScope | None] = ContextVar("towpath_write_scope", default=None)


@contextmanager
def write_scope(owner: str, refs: Mapping[str, str]) -> Iterator[None]:
    """Refuse, in this thread or task, any `Catalog.write` that is not to one of `refs`' branches.

    A WAP attempt sets it around its write jobs, so a job that writes a table
    the template does not list (which would land on `main`, unaudited) fails
    instead. Each thread has its own scope (parallel backfill dates do not mix).
    """
    token = _WRITE_SCOPE.set(WriteScope(owner, {normalize_identifier(k): v for k, v in refs.items()}))
    try:
        yield
    finally:
        _WRITE_SCOPE.reset(token)


def _check_write_scope(ident: str, branch: str) -> None:
    scope = _WRITE_SCOPE.get()
    if scope is None or scope.refs.get(ident) == branch:
        return
    if ident not in scope.refs:
        raise UnstagedWriteError(
            f"{scope.owner} does not stage table '{ident}' (it stages {', '.join(sorted(scope.refs))}): the write would "
            f"reach '{branch}' unaudited; add '{ident}' to the template's `tables`"
        )
    raise UnstagedWriteError(
        f"{scope.owner} stages '{ident}' on branch '{scope.refs[ident]}', not '{branch}': the write is refused"
    )


@dataclass(frozen=True)
class ScanPlan:
    """The data files a read must touch, after partition and metrics pruning."""

    identifier: str
    files: list[str]
    schema: pa.Schema
    snapshot_id: int | None
    total_files: int
    """Data files in the snapshot before pruning (for pruning statistics)."""
    evolved: bool = False
    """The table's schema changed since it was created (a rename, an added column): its older data files
    must be read by Iceberg field id, not by column name."""
    counts: ScanCounts | None = None
    """Each planned file's exact row and NULL counts when the filter selects whole files
    (`towpath.catalog.counts`); None when only reading the rows can tell."""


Change = Callable[[Table, Transaction, "str | None", WriteMode], None]
"""Stages a data write in a transaction of the table: `(table, txn, branch or None, mode)`."""


def _commit_change(table: Table, change: Change, target: str | None, mode: WriteMode, *, cut: int | None = None) -> None:
    """`change` in one transaction of `table`, committed; with the cut of branch `target` at `cut` if given."""
    txn = table.transaction()
    if cut is not None:
        assert target is not None
        cut_branch(txn, cut, target)
    with _local_on_this_thread(table):
        change(table, txn, target, mode)
        txn.commit_transaction()  # updates `table`


def _local_on_this_thread(table: Table) -> AbstractContextManager[None]:
    """`_threads.on_this_thread` for a table on local files: its manifests are read and written (Python,
    holding the GIL) on the calling thread; a remote table's stay on the pool, where their I/O overlaps."""
    local = PyArrowFileIO.parse_location(table.metadata_location)[0] == "file"
    return _threads.on_this_thread() if local else nullcontext()


def _head_id(table: Table) -> int | None:
    head = table.snapshot_by_name(MAIN)
    return head.snapshot_id if head else None


_manifests.install()
_memory.install()
_threads.install()

_PLAN_CACHE_SIZE = 256
"""Scan plans a catalog keeps (a long-lived worker plans many snapshots and never asks for old ones again)."""


class Catalog:
    """A towpath project's Iceberg catalog (pyiceberg underneath)."""

    def __init__(self, iceberg: IcebergCatalog, env: str | None = None, loader: TableLoader | None = None) -> None:
        self.iceberg = iceberg
        self.env = env
        """The environment this catalog reads and writes for (`towpath.environment`); None: production."""
        self._loader = loader or TableLoader(iceberg)
        """Loads tables, parsing each metadata file once (shared by every `Catalog` on the same pyiceberg one)."""
        self._plans: dict[tuple[str, str | None, int | None, str], ScanPlan] = {}
        """Scan plans by (metadata file, ref, its reserved cut, filter): a metadata file never changes, so
        neither does its plan. A WAP's audits read the same branch with the same filter, and plan its
        manifests once."""
        self._reserved: dict[tuple[str, str], int] = {}
        """(`db.table`, branch) -> the snapshot a branch was reserved at and is not cut yet (`reserve_branch`)."""

    @classmethod
    def open(cls, config: ProjectConfig, root: Path, env: str | None = None) -> Catalog:
        """Open the catalog a `towpath.yaml` describes, creating local folders as needed; `env` as in `__init__`."""
        warehouse = config.resolve(root, config.warehouse)
        if "://" not in warehouse:
            Path(warehouse).mkdir(parents=True, exist_ok=True)
            warehouse = Path(warehouse).as_uri()
        props: dict[str, str] = {"warehouse": warehouse, **config.catalog.properties}
        if config.catalog.type == "sql":
            uri = config.resolve(root, config.catalog.uri)
            if uri.startswith("sqlite:///"):
                Path(uri.removeprefix("sqlite:///").partition("?")[0]).parent.mkdir(parents=True, exist_ok=True)
                if "timeout=" not in uri:
                    # Parallel backfills and concurrent runs share the file: wait for the lock, do not fail.
                    uri += ("&" if "?" in uri else "?") + f"timeout={SQLITE_LOCK_TIMEOUT_S}"
            props.update(type="sql", uri=uri)
        else:
            props.update(type="rest", uri=config.catalog.uri)
        try:
            iceberg, loader = open_catalog(props)
            return cls(iceberg, env, loader)
        except Exception as exc:  # pyiceberg/sqlalchemy raise many unrelated types here
            raise CatalogError(f"cannot open the {config.catalog.type} catalog at {props['uri']}: {exc}") from exc

    # -- lookup -------------------------------------------------------------------------------

    def list_tables(self) -> list[str]:
        """Every table of every namespace, as `namespace.table`, sorted; environments' copies are named as the
        table they stand for, and only in their own environment (`list_physical_tables` lists them all)."""
        from towpath.environment import split_identifier

        out: set[str] = set()
        for physical in self.list_physical_tables():
            logical, env = split_identifier(physical)
            if env is None or env == self.env:
                out.add(logical)
        return sorted(out)

    def list_physical_tables(self) -> list[str]:
        """Every table the catalog holds, environments' copies (`lake__feature_x.orders`) included."""
        out: list[str] = []
        for ns in self.iceberg.list_namespaces():
            out.extend(".".join(ident) for ident in self.iceberg.list_tables(ns))
        return sorted(out)

    def metadata_locations(self) -> dict[str, str] | None:
        """`namespace.table` -> its current metadata file, for every table in one query; None where the
        catalog cannot say without loading each table (REST). A reader that keeps loaded tables (the console)
        reloads only those whose file changed: every commit writes a new one."""
        from pyiceberg.catalog.sql import IcebergTables, SqlCatalog

        if not isinstance(self.iceberg, SqlCatalog):
            return None
        query = sqlalchemy.select(IcebergTables.table_namespace, IcebergTables.table_name,
                                  IcebergTables.metadata_location).where(IcebergTables.catalog_name == self.iceberg.name)
        with self.iceberg.engine.connect() as conn:
            return {f"{ns}.{name}": str(location) for ns, name, location in conn.execute(query) if location}

    def exists(self, identifier: str) -> bool:
        ident = normalize_identifier(identifier)
        return self._loader.exists(ident) or bool(self.env and self._loader.exists(self.physical(ident)))

    def physical(self, identifier: str) -> str:
        """Where a table named `identifier` lives for this catalog: its environment's copy, or itself."""
        from towpath.environment import env_identifier

        ident = normalize_identifier(identifier)
        return ident if self.env is None else env_identifier(ident, self.env)

    def table(self, identifier: str, *, write: bool = False) -> Table:
        """Load a table; a missing one raises `TableNotFoundError` with close names.

        In an environment (`self.env`) this is the one place a name becomes a table:
        the environment's copy, cut from production first when `write` is set;
        else production's table, which refuses commits (`env_tables.env_table`).
        Every commit path loads its table with `write=True` (`load_tables` does).
        """
        ident = normalize_identifier(identifier)
        if self.env is not None:
            from towpath.catalog.env_tables import env_table

            return env_table(self, ident, write=write)
        try:
            return self.load_physical(ident)
        except (NoSuchTableError, NoSuchNamespaceError):
            raise TableNotFoundError(ident, self.list_tables()) from None

    def load_physical(self, identifier: str) -> Table:
        """The table stored under exactly this name (no environment mapping), parsed once per metadata file.

        Raises pyiceberg's `NoSuchTableError` for a missing one (`table` turns it into ours)."""
        return self._loader.load(identifier)

    def preload(self, limit: int = 200) -> int:
        """Parse the metadata of up to `limit` tables ahead (the worker, before it forks commands); how many.

        Only on a SQL catalog, which a process shares (`_opened.py`) so the parses outlive this object;
        elsewhere it would be work for nothing."""
        from pyiceberg.catalog.sql import SqlCatalog

        if not isinstance(self.iceberg, SqlCatalog):
            return 0
        tables = self.list_physical_tables()[:limit]
        for table in tables:
            self.load_physical(table)
        return len(tables)

    def exists_physical(self, identifier: str) -> bool:
        """Whether a table is stored under exactly this name (no environment mapping)."""
        return self._loader.exists(identifier)

    def drop_table(self, identifier: str) -> None:
        """Drop a table (its files stay until `gc`); in an environment only its own copy, never production's.

        Raises:
            EnvError: in an environment, the table exists only in production.
        """
        from towpath.environment import EnvError

        physical = self.physical(identifier)
        try:
            self.iceberg.drop_table(physical)
        except (NoSuchTableError, NoSuchNamespaceError):
            if self.env is None:
                raise TableNotFoundError(physical, self.list_tables()) from None
            raise EnvError(f"environment '{self.env}' has no copy of '{normalize_identifier(identifier)}' to drop; "
                           "production's table is never dropped from an environment") from None

    def ensure_namespace(self, namespace: str) -> None:
        """Create `namespace` unless it exists (two processes racing to create it both succeed)."""
        try:
            self.iceberg.create_namespace(namespace)
        except NamespaceAlreadyExistsError:
            pass
        except sqlalchemy.exc.IntegrityError:  # the SQL catalog's check-then-insert lost a race
            if not self.iceberg.namespace_exists(namespace):
                raise

    def snapshot_id(self, identifier: str, ref: str = MAIN) -> int | None:
        """Head snapshot of `ref` (a branch or tag), None for an empty table."""
        snap = self._ref_snapshot(self.table(identifier), identifier, ref)
        return snap.snapshot_id if snap else None

    # -- reserved branches ----------------------------------------------------------------------

    def reserve_branch(self, identifier: str, branch: str, snapshot_id: int) -> None:
        """Let `branch` stand for `snapshot_id` in this catalog's reads until the first write cuts it.

        A WAP stages its branch this way (`towpath.catalog.stage_branch`): the
        first write to the branch creates it from `snapshot_id` in the write's own
        commit, one catalog commit (a metadata file, a round trip to a REST
        catalog) fewer per table and run, and a write that fails leaves no ref
        to drop. Reads of the branch before that see `snapshot_id`, as they would
        see a branch cut there.
        """
        self._reserved[(normalize_identifier(identifier), branch)] = snapshot_id

    def reserved_cut(self, identifier: str, branch: str) -> int | None:
        """The snapshot `branch` is reserved at, None if it is not reserved (or already cut)."""
        return self._reserved.get((normalize_identifier(identifier), branch))

    def release_branch(self, identifier: str, branch: str) -> int | None:
        """Forget a reservation (the branch was published, dropped or cut); the snapshot it stood for."""
        return self._reserved.pop((normalize_identifier(identifier), branch), None)

    def _ref_snapshot(self, table: Table, identifier: str, ref: str | None) -> Snapshot | None:
        """The snapshot `ref` names (main's head for None), a reserved branch's included."""
        if not ref:
            return table.current_snapshot()
        if (snap := table.snapshot_by_name(ref)) is None and (cut := self.reserved_cut(identifier, ref)) is not None:
            return table.snapshot_by_id(cut)
        return snap

    # -- read ---------------------------------------------------------------------------------

    def plan_scan(
        self, identifier: str, row_filter: BooleanExpression = ALL_ROWS, ref: str | None = None
    ) -> ScanPlan:
        """Files to read for `row_filter` at `ref` (default: main), pruned by partitions and metrics."""
        table = self.table(identifier)
        key = (table.metadata_location, ref, self.reserved_cut(identifier, ref) if ref else None, repr(row_filter))
        if (known := self._plans.get(key)) is not None:
            return known
        plan = self._plan_scan(table, identifier, row_filter, ref)
        if len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def _plan_scan(self, table: Table, identifier: str, row_filter: BooleanExpression, ref: str | None) -> ScanPlan:
        snap = self._ref_snapshot(table, identifier, ref)
        if ref and snap is None and ref != MAIN:
            raise CatalogError(f"table '{identifier}' has no branch or tag '{ref}'")
        schema = table.schema().as_arrow()
        if snap is None:
            return ScanPlan(normalize_identifier(identifier), [], schema, None, 0,
                            counts=whole_file_counts(table.metadata, table.schema(), ()))
        scan = table.scan(row_filter=row_filter, snapshot_id=snap.snapshot_id)
        with _local_on_this_thread(table):  # an audit's plan of two manifests: 0.14 ms less
            tasks = list(scan.plan_files())
        if any(task.delete_files for task in tasks):
            raise CatalogError(f"table '{identifier}' has delete files (merge-on-read), which the engine cannot read yet")
        summary = snap.summary.additional_properties if snap.summary else {}
        total = int(summary.get("total-data-files", len(tasks)))
        return ScanPlan(
            normalize_identifier(identifier), [t.file.file_path for t in tasks], schema, snap.snapshot_id, total,
            evolved=len(table.metadata.schemas) > 1, counts=whole_file_counts(table.metadata, table.schema(), tasks),
        )

    def read(
        self, identifier: str, row_filter: BooleanExpression = ALL_ROWS, ref: str | None = None
    ) -> pa.Table:
        """Rows of a table at `ref` as one Arrow table."""
        table = self.table(identifier)
        snap = self._ref_snapshot(table, identifier, ref)
        if snap is None:
            return table.schema().as_arrow().empty_table()
        return table.scan(row_filter=row_filter, snapshot_id=snap.snapshot_id).to_arrow()

    # -- write --------------------------------------------------------------------------------

    def write(
        self,
        identifier: str,
        data: pa.Table,
        mode: WriteMode = "append",
        *,
        branch: str = MAIN,
        properties: dict[str, str] | None = None,
    ) -> int | None:
        """Write `data` to `branch` in one commit; returns the new snapshot id.

        Columns are matched by name and cast to the table's types (so `BIGINT`
        from SQL lands in an `INT` column); a missing nullable column becomes
        nulls, an unknown column is a `SchemaMismatchError`.
        """
        self.check_write(identifier, branch)
        data = conform(data, self.table(identifier).schema().as_arrow(), identifier)
        props = properties or {}

        def change(table: Table, txn: Transaction, target: str | None, mode: WriteMode) -> None:
            if mode == "append":
                txn.append(data, snapshot_properties=props, branch=target)
            elif mode == "overwrite" or (mode == "dynamic_overwrite" and table.spec().is_unpartitioned()):
                txn.overwrite(data, snapshot_properties=props, branch=target)
            elif mode == "dynamic_overwrite" and can_replace_partitions(table):
                replace_partitions(table, txn, data, props, target or MAIN)
            elif mode == "dynamic_overwrite":
                with warnings.catch_warnings():  # a first write of a partition has nothing to delete; that is fine
                    warnings.filterwarnings("ignore", "Delete operation did not match any records")
                    txn.dynamic_partition_overwrite(data, snapshot_properties=props, branch=target)
            else:
                raise CatalogError(f"unknown write mode '{mode}'")

        return self._commit_to_branch(identifier, branch, mode, change)

    def commit_files(
        self,
        identifier: str,
        files: Sequence[DataFile],
        mode: WriteMode = "append",
        *,
        branch: str = MAIN,
        properties: dict[str, str] | None = None,
    ) -> int | None:
        """Commit data files written elsewhere (Spark's executors) to `branch` in one snapshot; the new snapshot id.

        The files must hold the table's schema with its field ids and its
        partition layout (pyiceberg's `_dataframe_to_data_files` writes them so).
        Same modes, write scope, branch cutting and retries as `write`: only
        the writing of the Parquet files happened somewhere else.
        """
        self.check_write(identifier, branch)
        if mode not in ("append", "overwrite", "dynamic_overwrite"):
            raise CatalogError(f"unknown write mode '{mode}'")
        props = properties or {}

        def change(table: Table, txn: Transaction, target: str | None, mode: WriteMode) -> None:
            try:
                commit_data_files(table, txn, files, mode, props, target)
            except ValueError as exc:
                if "sequence number" in str(exc):
                    raise  # a lost race: commit_with_retry redoes it
                raise CatalogError(f"cannot write to '{normalize_identifier(identifier)}': {exc}") from None

        return self._commit_to_branch(identifier, branch, mode, change)

    def _commit_to_branch(self, identifier: str, branch: str, mode: WriteMode, change: Change) -> int | None:
        """Commit `change(table, txn, branch, mode)` with retries, cutting a missing `branch` in the same
        commit; the branch's new head.

        pyiceberg would start a missing branch as a parentless one holding only
        the new rows, so it is cut where it was reserved (`reserve_branch`), else
        from main's head; on a table without any snapshot see
        `_write_first_snapshot_to_branch`.
        """

        def attempt(table: Table) -> None:
            cut = None
            if branch != MAIN and branch not in table.metadata.refs:
                cut = self.reserved_cut(identifier, branch)
                cut = _head_id(table) if cut is None else cut
                if cut is None:
                    self._write_first_snapshot_to_branch(
                        identifier, table, lambda t: _commit_change(t, change, None, "append"), branch)
                    return
            _commit_change(table, change, branch, mode, cut=cut)

        self.commit_with_retry(identifier, attempt, what=f"writing to {branch}")
        self.release_branch(identifier, branch)  # cut now, if it was reserved
        table = self.table(identifier)
        snap = table.snapshot_by_name(branch)
        return snap.snapshot_id if snap else None

    def check_write(self, identifier: str, branch: str = MAIN) -> None:
        """Refuse a data write to `branch` of `identifier` that the current `write_scope` does not allow.

        `write` checks it; code that commits data to a table by other means (a
        streaming append) calls it first.

        Raises:
            UnstagedWriteError: inside a WAP attempt, the table or branch is not one it staged.
        """
        _check_write_scope(normalize_identifier(identifier), branch)

    def commit_with_retry(self, identifier: str, action: Callable[[Table], T], *, what: str) -> T:
        """Run `action` on a freshly loaded table, again if a concurrent commit beat it.

        Every towpath commit is safe to redo: its data files or property values do
        not depend on the table state it lost to. pyiceberg retries a conflicting
        commit by itself but, when other writers add snapshots to *other* refs,
        its rebuilt commit can carry a stale sequence number (a `ValueError`), so
        we reload and redo the whole action instead. After `COMMIT_ATTEMPTS`
        tries it is a `ConflictError`.
        """
        ident = normalize_identifier(identifier)
        return self.commit_many_with_retry([ident], lambda tables: action(tables[ident]), what=what)

    def commit_many_with_retry(
        self, identifiers: Sequence[str], action: Callable[[dict[str, Table]], T], *, what: str
    ) -> T:
        """`commit_with_retry` for an action that commits several tables at once (see `load_tables`)."""
        for number in range(1, COMMIT_ATTEMPTS + 1):
            try:
                tables = self.load_tables(identifiers)
                result = action(tables)
                for table in tables.values():  # a commit through `table` updated it to the file it wrote
                    self._loader.remember(table)
                return result
            except (CommitFailedException, ValueError) as exc:
                if isinstance(exc, ValueError) and "sequence number" not in str(exc):
                    raise
                if number == COMMIT_ATTEMPTS:
                    raise ConflictError(
                        f"other writers kept committing to {', '.join(repr(i) for i in identifiers)} while {what} "
                        f"({COMMIT_ATTEMPTS} attempts): {exc}; rerun to retry"
                    ) from exc
                time.sleep(random.uniform(0.05, 0.2) * number)
        raise AssertionError("unreachable")

    def load_tables(self, identifiers: Sequence[str]) -> dict[str, Table]:
        """Load several tables for one commit (`db.table` -> table, in the given order)."""
        return {normalize_identifier(i): self.table(i, write=True) for i in identifiers}

    def commit_tables(self, changes: Sequence[TableChange]) -> None:
        """Apply changes to one or several tables as one commit (all or none); see `towpath.catalog._commit`.

        Raises:
            EnvError: in an environment, a change to a table that is not one of its copies.
        """
        from towpath.catalog.env_tables import check_env_commit

        check_env_commit(self.env, [c.table.name() for c in changes])
        commit_tables(self.iceberg, changes)

    def _write_first_snapshot_to_branch(
        self, identifier: str, table: Table, append: Callable[[Table], None], branch: str
    ) -> int:
        """Write to a new branch of a table that has no snapshot yet (WAP on an empty table).

        Iceberg refuses any ref but `main` on a table without snapshots, so the rows go
        into an unreferenced snapshot first and the branch ref is created on it in a
        second commit; `main` stays empty throughout, and a crash in between leaves
        only an orphan snapshot that no reader sees. On an empty table every write
        mode is an append.
        """
        from pyiceberg.table.refs import SnapshotRefType
        from pyiceberg.table.update import AssertRefSnapshotId, SetSnapshotRefUpdate

        before = {s.snapshot_id for s in table.snapshots()}
        append(table)  # to no branch: an unreferenced snapshot
        table = self.table(identifier)
        new = [s for s in table.snapshots() if s.snapshot_id not in before]
        snapshot_id = new[-1].snapshot_id
        table.catalog.commit_table(
            table,
            (AssertRefSnapshotId(ref=branch, snapshot_id=None),),  # type: ignore[call-arg]
            (SetSnapshotRefUpdate(ref_name=branch, type=SnapshotRefType.BRANCH, snapshot_id=snapshot_id),),  # type: ignore[call-arg]
        )
        return snapshot_id


def conform(data: pa.Table, target: pa.Schema, identifier: str) -> pa.Table:
    """Reorder, fill and cast `data` to `target` by column name (case-insensitive)."""
    by_lower = {name.lower(): name for name in data.column_names}
    unknown = set(by_lower) - {f.name.lower() for f in target}
    if unknown:
        raise SchemaMismatchError(
            f"cannot write to '{identifier}': columns {sorted(unknown)} are not in the table "
            f"(table columns: {[f.name for f in target]})"
        )
    columns = []
    for field in target:
        source = by_lower.get(field.name.lower())
        if source is None:
            if not field.nullable:
                raise SchemaMismatchError(f"cannot write to '{identifier}': required column '{field.name}' is missing")
            columns.append(pa.nulls(data.num_rows, type=field.type))
            continue
        column = data.column(source)
        if not column.type.equals(field.type):
            try:
                column = column.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaMismatchError(
                    f"cannot write column '{field.name}' of '{identifier}': {column.type} does not fit {field.type} ({exc})"
                ) from None
        if not field.nullable and column.null_count:
            raise SchemaMismatchError(
                f"cannot write to '{identifier}': required column '{field.name}' has {column.null_count} nulls"
            )
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=target)
