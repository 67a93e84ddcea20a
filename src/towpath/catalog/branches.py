"""Write-Audit-Publish on Iceberg branches: cut a branch from `main`, publish it, drop it.

Each WAP run writes to its own branch cut from `main`, audits that branch, and
publishes by fast-forwarding `main` to the branch head. A WAP *stages* its
branch (`stage_branch`): the branch is reserved at `main`'s head and cut by the
first write's own commit, so a run commits each table twice (write, publish),
not three times. Two traps in pyiceberg 0.12 shape this module:

* `manage_snapshots().set_current_snapshot()` moves `main` to any snapshot without
  checking ancestry, so publishing a branch cut before another run published would
  silently drop that run's data. We check that `main`'s head is an ancestor of the
  branch head, and commit with `AssertRefSnapshotId` requirements on both `main`
  and the branch, so a writer racing between our check and our commit makes the
  commit fail (`ConflictError`) instead of losing data.
* A pyiceberg `Transaction` keeps only one requirement per requirement *type*, so
  the two `AssertRefSnapshotId`s cannot be staged through `manage_snapshots()`;
  we hand updates and requirements to the catalog's `commit_table` directly.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyiceberg.table import Table
from pyiceberg.table.refs import SnapshotRefType
from pyiceberg.table.update import (
    AssertRefSnapshotId,
    RemoveSnapshotRefUpdate,
    SetSnapshotRefUpdate,
    TableUpdate,
)

from towpath.catalog._catalog import MAIN, Catalog, normalize_identifier
from towpath.catalog._commit import TableChange, require_multi_table_commit
from towpath.errors import CatalogError, ConflictError


def create_branch(catalog: Catalog, identifier: str, branch: str) -> int | None:
    """Cut `branch` from `main`'s head now, in a commit of its own; returns the snapshot id it points at.

    A table without snapshots has nothing to cut from (and Iceberg refuses a
    non-main ref on an empty table), so this returns None and creates no ref:
    `Catalog.write(..., branch=branch)` creates the ref with its first commit.

    Raises:
        CatalogError: `branch` already exists, or is `main`.
    """
    head = stage_branch(catalog, identifier, branch)
    cut_reserved_branch(catalog, identifier, branch)
    return head


def stage_branch(catalog: Catalog, identifier: str, branch: str) -> int | None:
    """Reserve `branch` at `main`'s head, without a commit; returns that snapshot id (None: an empty table).

    Until a write cuts it (`Catalog.write` cuts a reserved branch in its own
    commit, at the reserved snapshot even if `main` moved since), this catalog
    reads the branch as that snapshot; publishing a branch nobody wrote to
    moves nothing, and dropping it forgets the reservation. Other processes do
    not see the branch before its first write.

    Raises:
        CatalogError: `branch` already exists, or is `main`.
    """
    _check_name(branch)
    table = catalog.table(identifier)
    if branch in table.metadata.refs:
        raise _exists(identifier, branch)
    head = table.snapshot_by_name(MAIN)
    if head is None:
        return None  # nothing to cut from: the first write creates the ref (see `create_branch`)
    catalog.reserve_branch(identifier, branch, head.snapshot_id)
    return head.snapshot_id


def cut_reserved_branch(catalog: Catalog, identifier: str, branch: str) -> None:
    """Create a reserved `branch` that no write has cut yet, at its reserved snapshot, in a commit of its own
    (`create_branch`; a kept WAP branch nobody wrote, for inspection). Nothing to do for one not reserved.

    Raises:
        CatalogError: another writer created a branch of that name meanwhile.
    """
    if (cut := catalog.reserved_cut(identifier, branch)) is None:
        return

    def attempt(table: Table) -> None:
        if branch in table.metadata.refs:
            raise _exists(identifier, branch)
        table.manage_snapshots().create_branch(cut, branch).commit()

    try:
        catalog.commit_with_retry(identifier, attempt, what=f"creating branch '{branch}'")
    finally:
        catalog.release_branch(identifier, branch)


def publish_branch(catalog: Catalog, identifier: str, branch: str, *, drop: bool = True) -> int | None:
    """Fast-forward `main` to the head of `branch` in one commit; returns `main`'s new head.

    Publishes only if `main`'s current head is an ancestor of the branch head
    (nothing published since the branch was cut). Otherwise raises
    `ConflictError` and leaves both `main` and the branch as they were, so the run
    can be inspected or redone. A branch nobody wrote to (table still empty)
    publishes nothing and returns `main`'s head.

    Raises:
        CatalogError: the branch does not exist.
        ConflictError: `main` moved since the branch was cut, or a concurrent commit won the race.
    """
    return publish_branches(catalog, {identifier: branch}, drop=drop)[_ident(identifier)]


def publish_branches(catalog: Catalog, branches: Mapping[str, str], *, drop: bool = True) -> dict[str, int | None]:
    """`publish_branch` for several tables at once: every `main` moves in one atomic commit, or none does.

    Each table is checked as `publish_branch` checks one; a table whose `main`
    moved refuses the whole publish (`ConflictError`), so a retry never writes on
    top of a half-published set. Returns `db.table` -> `main`'s new head.

    Raises:
        CatalogError: a branch does not exist, or the catalog cannot commit several tables atomically.
        ConflictError: a `main` moved since its branch was cut, or a concurrent commit won the race.
    """
    wanted = {_ident(t): b for t, b in branches.items()}
    for branch in wanted.values():
        _check_name(branch)
    if len(wanted) > 1:
        require_multi_table_commit(catalog.iceberg)

    def attempt(tables: dict[str, Table]) -> dict[str, int | None]:
        heads: dict[str, int | None] = {}
        changes = []
        for ident, table in tables.items():
            head, change = _fast_forward(catalog, ident, table, wanted[ident], drop)
            heads[ident] = head
            if change is not None:
                changes.append(change)
        if changes:
            catalog.commit_tables(changes)
        return heads

    what = f"publishing branch{'es' if len(wanted) > 1 else ''} {', '.join(sorted(set(wanted.values())))}"
    heads = catalog.commit_many_with_retry(list(wanted), attempt, what=what)
    if drop:
        for ident, branch in wanted.items():
            catalog.release_branch(ident, branch)
    return heads


def _fast_forward(
    catalog: Catalog, ident: str, table: Table, branch: str, drop: bool
) -> tuple[int | None, TableChange | None]:
    """`main`'s head after publishing `branch`, and the change that does it (None: nothing to publish)."""
    refs = table.metadata.refs
    main_head = refs[MAIN].snapshot_id if MAIN in refs else None
    if branch not in refs and (reserved := catalog.reserved_cut(ident, branch)) is not None:
        if main_head != reserved:  # as a branch cut there would: its audits saw the reserved snapshot
            raise ConflictError(
                f"cannot publish branch '{branch}' of '{ident}': main moved to snapshot {main_head} after the branch "
                f"was cut from {reserved}; rerun the workflow to write on top of the new main"
            )
        return main_head, None  # nothing was written to it: nothing to publish
    if branch not in refs:
        if main_head is None:
            return None, None  # empty table, nothing was written to the branch: nothing to publish
        raise CatalogError(
            f"table '{ident}' has no branch '{branch}' (branches: {sorted(list_branches(catalog, ident))})"
        )
    branch_ref = refs[branch]
    if branch_ref.snapshot_ref_type != SnapshotRefType.BRANCH:
        raise CatalogError(f"'{branch}' of table '{ident}' is a tag, not a branch")
    branch_head = branch_ref.snapshot_id
    if not is_ancestor(table, main_head, branch_head):
        base = _branch_base(table, branch_head)
        raise ConflictError(
            f"cannot publish branch '{branch}' of '{ident}': main moved to snapshot {main_head} after the branch "
            f"was cut from {base}; the branch is kept, rerun the workflow to write on top of the new main"
        )
    updates: tuple[TableUpdate, ...] = (
        SetSnapshotRefUpdate(ref_name=MAIN, type=SnapshotRefType.BRANCH, snapshot_id=branch_head),  # type: ignore[call-arg]
    )
    if drop:
        updates += (RemoveSnapshotRefUpdate(ref_name=branch),)  # type: ignore[call-arg]
    # Both refs must still be where we checked them: a concurrent publish makes this commit fail
    # (and the retry re-checks ancestry) instead of losing its data.
    requirements = (
        AssertRefSnapshotId(ref=MAIN, snapshot_id=main_head),  # type: ignore[call-arg]
        AssertRefSnapshotId(ref=branch, snapshot_id=branch_head),  # type: ignore[call-arg]
    )
    return branch_head, TableChange(table, requirements, updates)


def drop_branch(catalog: Catalog, identifier: str, branch: str) -> None:
    """Remove the `branch` ref (its snapshots stay until expired); dropping `main` is refused.

    A reserved branch no write has cut yet (`stage_branch`) is only forgotten.
    """
    _check_name(branch)
    reserved = catalog.release_branch(identifier, branch)

    def attempt(table: Table) -> None:
        ref = table.metadata.refs.get(branch)
        if ref is None and reserved is not None:
            return
        if ref is None or ref.snapshot_ref_type != SnapshotRefType.BRANCH:
            raise CatalogError(
                f"table '{_ident(identifier)}' has no branch '{branch}' "
                f"(branches: {sorted(list_branches(catalog, identifier))})"
            )
        table.catalog.commit_table(
            table,
            (AssertRefSnapshotId(ref=branch, snapshot_id=ref.snapshot_id),),  # type: ignore[call-arg]
            (RemoveSnapshotRefUpdate(ref_name=branch),),  # type: ignore[call-arg]
        )

    catalog.commit_with_retry(identifier, attempt, what=f"dropping branch '{branch}'")


def list_branches(catalog: Catalog, identifier: str) -> dict[str, int]:
    """Every branch (including `main`, once it has a snapshot) -> its head snapshot id."""
    return branch_heads(catalog.table(identifier))


def branch_heads(table: Table) -> dict[str, int]:
    """`list_branches` of a loaded table."""
    return {
        name: ref.snapshot_id
        for name, ref in sorted(table.metadata.refs.items())
        if ref.snapshot_ref_type == SnapshotRefType.BRANCH
    }


def is_ancestor(table: Table, ancestor_id: int | None, snapshot_id: int) -> bool:
    """True if `ancestor_id` is `snapshot_id` or one of its parents; None (empty main) is everyone's ancestor."""
    if ancestor_id is None:
        return True
    current: int | None = snapshot_id
    seen: set[int] = set()
    while current is not None and current not in seen:
        if current == ancestor_id:
            return True
        seen.add(current)
        snap = table.metadata.snapshot_by_id(current)
        current = snap.parent_snapshot_id if snap else None
    return False


def _branch_base(table: Table, branch_head: int) -> int | None:
    """The newest ancestor of `branch_head` that `main` has ever pointed at (where the branch was cut)."""
    main_history = {entry.snapshot_id for entry in table.metadata.snapshot_log}
    current: int | None = branch_head
    while current is not None:
        if current in main_history:
            return current
        snap = table.metadata.snapshot_by_id(current)
        current = snap.parent_snapshot_id if snap else None
    return None


def _exists(identifier: str, branch: str) -> CatalogError:
    return CatalogError(f"table '{_ident(identifier)}' already has a branch '{branch}'; drop it or pick another name")


def _check_name(branch: str) -> None:
    if not branch or branch == MAIN:
        raise CatalogError(f"'{branch}' is not a valid WAP branch name (it must be non-empty and not '{MAIN}')")


def _ident(identifier: str) -> str:
    return normalize_identifier(identifier)
