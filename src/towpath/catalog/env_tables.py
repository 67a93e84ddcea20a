"""Environments: each one writes its own copy of a table, beside production, and reads production otherwise.

An environment (`feature_x`, usually a git branch) is a namespace suffix: the
copy of `lake.orders` that environment writes is the table `lake__feature_x.orders`.
The copy is cut from production the first time the environment writes the table
(`fork`): a new metadata file holding production's schema, properties, `main` and
history, registered under the copy's name with a location of its own. No data
file is copied; new files go under the copy's location, so production's files are
shared read-only and the environment's are its own.

Why a namespace and not an Iceberg branch per environment (docs/deploy.md says
more): schema, partition spec, properties and with them the high-water marks
(`towpath.hwm`) and the WAP branches are table-wide in Iceberg. A copy isolates
all of them at once, so every write path of the runtime (WAP stage and publish,
dynamic overwrites, metadata and mark steps, expiry, migrations, DDL) keeps
working unchanged on the copy; the one thing to decide per table is its name,
`Catalog.table` decides it here (`env_table`).

Promotion adds the copy's new snapshots to production (`towpath.deploy.promote`),
so a copy's snapshots must be valid in production's lineage: the fork starts the
copy's sequence numbers `SEQUENCE_GAP` past production's, which leaves production
room to commit in between (Iceberg requires sequence numbers to increase, not to
be contiguous).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyarrow import fs as pafs
from pyiceberg.catalog.noop import NoopCatalog
from pyiceberg.exceptions import (
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.serializers import ToOutputFile
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.metadata import TableMetadataV2, TableMetadataV3
from pyiceberg.table.refs import SnapshotRefType
from pyiceberg.table.update import (
    AddPartitionSpecUpdate,
    AddSchemaUpdate,
    AddSnapshotUpdate,
    AddSortOrderUpdate,
    AssertRefSnapshotId,
    RemovePropertiesUpdate,
    SetCurrentSchemaUpdate,
    SetDefaultSortOrderUpdate,
    SetDefaultSpecUpdate,
    SetPropertiesUpdate,
    SetSnapshotRefUpdate,
    TableRequirement,
    TableUpdate,
)

from towpath.catalog._commit import TableChange, commit_tables
from towpath.environment import SEPARATOR, EnvError, env_identifier, split_identifier
from towpath.errors import ConflictError, TableNotFoundError

SEQUENCE_GAP = 1 << 20
"""Sequence numbers production may commit while an environment lives, and still take its snapshots."""

if TYPE_CHECKING:
    from towpath.catalog._catalog import Catalog

ENV_NAME = "towpath.env.name"
ENV_SOURCE = "towpath.env.source"
"""The production table a copy was cut from (`lake.orders`), or empty for a table the environment created."""
ENV_BASE = "towpath.env.base-snapshot"
"""Production's `main` head when the copy was cut (empty: production had no snapshot)."""
ENV_FORKED_AT = "towpath.env.forked-at"
ENV_PROPERTIES = (ENV_NAME, ENV_SOURCE, ENV_BASE, ENV_FORKED_AT)
LOCATION_PROPERTIES = ("write.data.path", "write.metadata.path", "write.object-storage.path")
"""Where production writes; a copy writes under its own location instead."""



def env_table(catalog: Catalog, identifier: str, *, write: bool) -> Table:
    """The table `identifier` names in the catalog's environment.

    The environment's copy if it has one; else, to write, a new copy cut from
    production (`fork`); else production's table, read-only: any commit through it
    raises `EnvError`, so a write path that forgot to ask for `write` fails
    loudly instead of changing production.
    """
    env = catalog.env
    assert env is not None
    physical = env_identifier(identifier, env)
    try:
        return catalog.load_physical(physical)
    except (NoSuchTableError, NoSuchNamespaceError):
        pass
    try:
        production = catalog.load_physical(identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        raise TableNotFoundError(identifier, catalog.list_tables()) from None
    if write:
        return fork(catalog, production, identifier, env)
    return Table(
        production.name(), production.metadata, production.metadata_location, production.io,
        ReadOnlyProduction(identifier, env),
    )


def fork(catalog: Catalog, production: Table, identifier: str, env: str) -> Table:
    """Cut environment `env`'s copy of `identifier` from production's current state (no data file is copied)."""
    meta = production.metadata
    physical = env_identifier(identifier, env)
    main = production.snapshot_by_name("main")
    location = env_location(catalog, production, physical)
    properties = {k: v for k, v in meta.properties.items() if k not in LOCATION_PROPERTIES}
    properties.update({
        ENV_NAME: env, ENV_SOURCE: identifier, ENV_BASE: str(main.snapshot_id) if main else "",
        ENV_FORKED_AT: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })
    changes: dict[str, object] = {
        "location": location, "table_uuid": uuid.uuid4(), "properties": properties,
        # Only main: production's kept WAP branches are not the environment's. No metadata log: an
        # environment's commits must never delete production's metadata files as "previous versions".
        "refs": {name: ref for name, ref in meta.refs.items() if name == "main"}, "metadata_log": [],
    }
    if isinstance(meta, TableMetadataV2 | TableMetadataV3):
        changes["last_sequence_number"] = meta.last_sequence_number + SEQUENCE_GAP
    path = f"{location}/metadata/00000-{uuid.uuid4()}.metadata.json"
    ToOutputFile.table_metadata(meta.model_copy(update=changes), production.io.new_output(path))
    catalog.ensure_namespace(physical.rpartition(".")[0])
    try:
        catalog.iceberg.register_table(physical, path)
    except TableAlreadyExistsError:  # another run of the environment cut it first: use theirs
        pass
    return catalog.load_physical(physical)


def env_location(catalog: Catalog, production: Table, physical: str) -> str:
    """`<warehouse>/<ns>__<env>.db/<table>`, where the catalog would put a table of that name."""
    warehouse = catalog.iceberg.properties.get("warehouse")
    namespace, _, table = physical.rpartition(".")
    if warehouse:
        return f"{warehouse.rstrip('/')}/{namespace}.db/{table}"
    return f"{production.location().rstrip('/')}{SEPARATOR}{physical.rpartition('.')[0].partition(SEPARATOR)[2]}"


def check_env_commit(env: str | None, tables: list[tuple[str, ...]]) -> None:
    """Refuse a commit, in environment `env`, to any table that is not one of its copies."""
    if env is None:
        return
    for name in tables:
        physical = ".".join(name)
        if split_identifier(physical)[1] != env:
            raise EnvError(
                f"environment '{env}' may not change table '{physical}' (production, or another environment's); "
                f"its writes go to {env_identifier(physical, env)}"
            )


class ReadOnlyProduction(NoopCatalog):
    """The catalog of a production table read from an environment: it refuses every commit."""

    def __init__(self, identifier: str, env: str) -> None:
        super().__init__(f"production (read from environment {env})")
        self.identifier, self.env = identifier, env

    def commit_table(
        self, table: Table, requirements: tuple[TableRequirement, ...], updates: tuple[TableUpdate, ...]
    ) -> CommitTableResponse:
        raise EnvError(
            f"environment '{self.env}' read production's '{self.identifier}' and tried to change it; "
            f"its writes must go to {env_identifier(self.identifier, self.env)} (load the table with write=True)"
        )


# -- promotion, cost and drop: what `towpath.deploy` does with an environment's copies -------------------------


@dataclass(frozen=True)
class TablePromotion:
    """What promoting one copy does (or did) to its production table."""

    table: str
    """The production table (`lake.orders`)."""
    copy: str
    """The environment's copy (`lake__feature_x.orders`)."""
    production_before: int | None
    production_after: int | None
    snapshots: int
    """Snapshots of the copy production takes."""
    moved: bool
    """Production's `main` moved since the copy was cut (promoted only with `force`)."""
    created: bool = False
    """The table exists only in the environment: promotion creates it in production."""


def env_copies(catalog: Catalog, env: str) -> dict[str, str]:
    """Production name -> the environment's copy, for every copy `env` has (only its namespaces are listed)."""
    copies = {}
    for namespace in catalog.iceberg.list_namespaces():
        if not ".".join(namespace).endswith(f"{SEPARATOR}{env}"):
            continue
        for ident in catalog.iceberg.list_tables(namespace):
            logical, owner = split_identifier(".".join(ident))
            if owner == env:
                copies[logical] = ".".join(ident)
    return copies


def copies_of(catalog: Catalog, identifier: str) -> list[Table]:
    """Every environment's copy of production table `identifier` (only `<its namespace>__*` namespaces are listed)."""
    namespace, _, name = identifier.rpartition(".")
    out = []
    for found in catalog.iceberg.list_namespaces():
        if ".".join(found).startswith(f"{namespace}{SEPARATOR}"):
            physical = f"{'.'.join(found)}.{name}"
            if catalog.exists_physical(physical):
                out.append(catalog.load_physical(physical))
    return out


def promote_copies(catalog: Catalog, env: str, *, force: bool = False) -> list[TablePromotion]:
    """Make every production table take environment `env`'s state, in one atomic commit.

    Per table, production's `main` moves to the copy's head, taking the copy's new
    snapshots, schemas, partition specs, sort orders and properties (so its marks,
    `towpath.hwm`, and metadata). The commit asserts each production `main` is
    still where this check saw it, so a concurrent production publish fails it;
    tables that exist only in the environment are created in production in the
    same catalog transaction (SQL catalog; one table at a time elsewhere).

    Raises:
        ConflictError: a production table moved since its copy was cut (its `main`
            is not in the copy's history) and `force` is off; nothing changes.
        EnvError: `env` has no copies, or a schema/spec id differs between the two.
    """
    if catalog.env is not None:
        raise EnvError(f"promote from the production catalog, not from inside environment '{catalog.env}'")
    copies = env_copies(catalog, env)
    if not copies:
        raise EnvError(f"environment '{env}' has no tables to promote (it never wrote one)")

    def attempt(_: dict[str, Table]) -> list[TablePromotion]:
        plans, changes, creates = [], [], []
        for logical, physical in sorted(copies.items()):
            copy = catalog.load_physical(physical)
            try:
                production: Table | None = catalog.load_physical(logical)
            except (NoSuchTableError, NoSuchNamespaceError):
                production = None
            if production is None:
                creates.append((logical, _promoted_metadata(catalog, copy, logical)))
                head = copy.snapshot_by_name("main")
                plans.append(TablePromotion(logical, physical, None, head.snapshot_id if head else None,
                                            len(copy.snapshots()), False, created=True))
                continue
            plan, change = _promotion(production, copy, logical, physical, force)
            plans.append(plan)
            if change is not None:
                changes.append(change)
        refused = [p for p in plans if p.moved and not force]
        if refused:
            raise ConflictError(
                "production moved since environment '" + env + "' branched from it: "
                + "; ".join(f"{p.table} is at snapshot {p.production_before}, which the environment never saw"
                            for p in refused)
                + ". Redeploy the environment on top of production (drop it and rerun), or promote with --force "
                "to replace production's state anyway"
            )
        if changes or creates:
            commit_tables(catalog.iceberg, changes, creates=creates)
        return plans

    return catalog.commit_many_with_retry([], attempt, what=f"promoting environment '{env}'")


def _promotion(
    production: Table, copy: Table, logical: str, physical: str, force: bool
) -> tuple[TablePromotion, TableChange | None]:
    prod_meta, copy_meta = production.metadata, copy.metadata
    prod_head = production.snapshot_by_name("main")
    copy_head = copy.snapshot_by_name("main")
    prod_id = prod_head.snapshot_id if prod_head else None
    copy_id = copy_head.snapshot_id if copy_head else None
    lineage = _lineage(copy, copy_id)
    base = copy.properties.get(ENV_BASE) or None
    moved = prod_id is not None and prod_id not in lineage and str(prod_id) != base
    new = [copy_meta.snapshot_by_id(s) for s in reversed(lineage) if prod_meta.snapshot_by_id(s) is None]
    plan = TablePromotion(logical, physical, prod_id, copy_id, len(new), moved)
    if moved and not force:
        return plan, None
    updates: list[TableUpdate] = []
    for mine, theirs, add, label in (
        (copy_meta.schemas, prod_meta.schemas, lambda s: AddSchemaUpdate(schema=s), "schema"),
        (copy_meta.partition_specs, prod_meta.partition_specs, lambda s: AddPartitionSpecUpdate(spec=s), "partition spec"),
        (copy_meta.sort_orders, prod_meta.sort_orders, lambda s: AddSortOrderUpdate(**{"sort-order": s}), "sort order"),
    ):
        known: dict[int, Any] = {_id_of(item): item for item in theirs}
        for item in mine:
            other = known.get(_id_of(item))
            if other is None:
                updates.append(add(item))
            elif other != item:
                raise EnvError(
                    f"'{logical}' has a different {label} {_id_of(item)} in production and in {physical}: both evolved "
                    "it since the environment branched; redeploy the environment on top of production"
                )
    if copy_meta.current_schema_id != prod_meta.current_schema_id:
        updates.append(SetCurrentSchemaUpdate(schema_id=copy_meta.current_schema_id))  # type: ignore[call-arg]
    if copy_meta.default_spec_id != prod_meta.default_spec_id:
        updates.append(SetDefaultSpecUpdate(spec_id=copy_meta.default_spec_id))  # type: ignore[call-arg]
    if copy_meta.default_sort_order_id != prod_meta.default_sort_order_id:
        updates.append(SetDefaultSortOrderUpdate(sort_order_id=copy_meta.default_sort_order_id))  # type: ignore[call-arg]
    for snapshot in new:
        assert snapshot is not None
        last = prod_meta.last_sequence_number if isinstance(prod_meta, TableMetadataV2 | TableMetadataV3) else None
        if last is not None and (snapshot.sequence_number or 0) <= last:
            raise EnvError(
                f"'{logical}': production committed more than {SEQUENCE_GAP} times since {physical} was cut, so its "
                "snapshots cannot join production's history; redeploy the environment on top of production"
            )
        updates.append(AddSnapshotUpdate(snapshot=snapshot))
    if copy_id is not None and copy_id != prod_id:
        updates.append(SetSnapshotRefUpdate(ref_name="main", type=SnapshotRefType.BRANCH, snapshot_id=copy_id))  # type: ignore[call-arg]
    wanted = _production_properties(copy.properties)
    changed = {k: v for k, v in wanted.items() if production.properties.get(k) != v}
    removed = [k for k in production.properties if k not in wanted and k not in LOCATION_PROPERTIES]
    if changed:
        updates.append(SetPropertiesUpdate(updates=changed))
    if removed:
        updates.append(RemovePropertiesUpdate(removals=removed))
    if not updates:
        return plan, None
    requirements = (AssertRefSnapshotId(ref="main", snapshot_id=prod_id),)  # type: ignore[call-arg]
    return plan, TableChange(production, requirements, tuple(updates))


def _lineage(table: Table, head: int | None) -> list[int]:
    """`head` and its ancestors, newest first."""
    out: list[int] = []
    current = head
    while current is not None and current not in out:
        out.append(current)
        snap = table.metadata.snapshot_by_id(current)
        current = snap.parent_snapshot_id if snap else None
    return out


def _id_of(item: Any) -> int:
    return int(getattr(item, "schema_id", getattr(item, "spec_id", getattr(item, "order_id", -1))))


def _production_properties(properties: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in properties.items() if k not in ENV_PROPERTIES}


def _promoted_metadata(catalog: Catalog, copy: Table, logical: str) -> str:
    """Write the metadata a table created in an environment starts production with; returns its path."""
    namespace, _, name = logical.rpartition(".")
    warehouse = catalog.iceberg.properties.get("warehouse")
    location = f"{warehouse.rstrip('/')}/{namespace}.db/{name}" if warehouse else copy.location()
    meta = copy.metadata.model_copy(update={
        "location": location, "table_uuid": uuid.uuid4(), "metadata_log": [],
        "properties": _production_properties(copy.properties),
        "refs": {n: r for n, r in copy.metadata.refs.items() if n == "main"},
    })
    path = f"{location}/metadata/00000-{uuid.uuid4()}.metadata.json"
    ToOutputFile.table_metadata(meta, copy.io.new_output(path))
    catalog.ensure_namespace(namespace)
    return path


@dataclass(frozen=True)
class CopyCost:
    """What one environment copy holds that production does not."""

    table: str
    copy: str
    snapshots: int
    """Snapshots of the copy that production does not have."""
    files: int
    """Files under the copy's location that production does not reference (data, manifests, metadata)."""
    bytes: int


def copy_costs(catalog: Catalog, env: str) -> list[CopyCost]:
    """`CopyCost` of every copy of environment `env`."""
    return [_cost(catalog, logical, physical)[0] for logical, physical in sorted(env_copies(catalog, env).items())]


def _cost(catalog: Catalog, logical: str, physical: str) -> tuple[CopyCost, Table, list[tuple[str, int]]]:
    copy = catalog.load_physical(physical)
    production = _production(catalog, logical)
    known = {s.snapshot_id for s in production.snapshots()} if production is not None else set()
    own = _own_files(copy, production)
    cost = CopyCost(logical, physical, sum(1 for s in copy.snapshots() if s.snapshot_id not in known), len(own),
                    sum(size for _, size in own))
    return cost, copy, own


def drop_copies(catalog: Catalog, env: str) -> list[CopyCost]:
    """Drop every copy of environment `env` and delete the files only it references; returns what was freed.

    A file production references (a promoted snapshot's data) stays; production's
    own files live under production's location and are never listed here.
    """
    freed = []
    copies = env_copies(catalog, env)
    for logical, physical in sorted(copies.items()):
        cost, copy, own = _cost(catalog, logical, physical)
        catalog.iceberg.drop_table(physical)
        if isinstance(copy.io, PyArrowFileIO):
            scheme, netloc, root = PyArrowFileIO.parse_location(copy.location())
            filesystem = copy.io.fs_by_scheme(scheme, netloc)
            for path, _size in own:
                filesystem.delete_file(path)
            left = filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
            if not any(info.type == pafs.FileType.File for info in left):
                filesystem.delete_dir(root)  # only empty folders were left: the environment leaves nothing behind
        freed.append(cost)
    for namespace in {physical.rpartition(".")[0] for physical in copies.values()}:
        try:
            if not catalog.iceberg.list_tables(namespace):
                catalog.iceberg.drop_namespace(namespace)
        except (NoSuchNamespaceError, NamespaceNotEmptyError):
            pass
    return freed


def _production(catalog: Catalog, logical: str) -> Table | None:
    try:
        return catalog.load_physical(logical)
    except (NoSuchTableError, NoSuchNamespaceError):
        return None


def _own_files(copy: Table, production: Table | None) -> list[tuple[str, int]]:
    """(path, bytes) of the files under the copy's location that production does not reference."""
    from towpath.catalog.gc import referenced_files

    if not isinstance(copy.io, PyArrowFileIO):
        raise EnvError(f"'{copy.name()}': listing an environment's files needs pyiceberg's PyArrowFileIO")
    scheme, netloc, root = PyArrowFileIO.parse_location(copy.location())
    filesystem = copy.io.fs_by_scheme(scheme, netloc)
    shared = referenced_files(production) if production is not None else set()
    listing = filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    return [(i.path, int(i.size or 0)) for i in listing if i.type == pafs.FileType.File and i.path not in shared]
