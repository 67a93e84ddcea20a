"""Remove a table's orphaned files: data and metadata files under its location that nothing references.

A killed run leaves data files it wrote before its commit; a failed commit
leaves a metadata file; expired snapshots leave their manifests and data files.
None of them is visible, but they cost storage forever. A file is removed only
if no snapshot of the table (any branch or tag, expired or not yet) and no
metadata file in the log references it, AND it is older than the safety age:
a file a running writer just wrote is not referenced yet either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyarrow import fs as pafs
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table

from towpath.catalog._catalog import Catalog, normalize_identifier
from towpath.errors import CatalogError


@dataclass(frozen=True)
class GcResult:
    table: str
    orphans: list[str]
    """Files nothing references and older than the safety age (removed unless `dry_run`)."""
    removed: bool
    referenced: int
    """Files the table's metadata references (kept)."""
    too_new: int
    """Unreferenced files younger than the safety age (kept: a writer may be about to commit them)."""


def remove_orphan_files(
    catalog: Catalog, identifier: str, *, older_than: dt.timedelta = dt.timedelta(days=3), dry_run: bool = False,
    at: dt.datetime | None = None,
) -> GcResult:
    """Delete (or with `dry_run`, list) the table's files that nothing references and are older than `older_than`.

    Raises:
        CatalogError: the table's file system cannot be listed, or `older_than` is under an hour.
    """
    if older_than < dt.timedelta(hours=1):
        raise CatalogError(
            f"--older-than must be at least 1h (got {older_than}): a younger file may belong to a commit in progress"
        )
    ident = normalize_identifier(identifier)
    table = catalog.table(ident, write=True)  # in an environment: its copy's location, never production's
    io = table.io
    if not isinstance(io, PyArrowFileIO):
        raise CatalogError(f"table '{ident}': orphan-file removal needs pyiceberg's PyArrowFileIO, not {type(io).__name__}")
    scheme, netloc, root = PyArrowFileIO.parse_location(table.location())
    filesystem = io.fs_by_scheme(scheme, netloc)
    referenced = referenced_files(table)
    if catalog.env is None:  # files production no longer needs may still be read by an environment's copy
        from towpath.catalog.env_tables import copies_of

        for copy in copies_of(catalog, ident):
            referenced |= referenced_files(copy)
    cutoff = (at or dt.datetime.now(dt.UTC)) - older_than
    orphans, too_new = [], 0
    try:
        listing = filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise CatalogError(f"cannot list the files of '{ident}' under {table.location()}: {exc}") from exc
    for info in listing:
        if info.type != pafs.FileType.File or info.path in referenced:
            continue
        modified = info.mtime
        if modified is not None and modified.replace(tzinfo=modified.tzinfo or dt.UTC) > cutoff:
            too_new += 1
            continue
        orphans.append(info.path)
    orphans.sort()
    if not dry_run:
        for path in orphans:
            filesystem.delete_file(path)
    return GcResult(ident, orphans, removed=not dry_run, referenced=len(referenced), too_new=too_new)


def referenced_files(table: Table) -> set[str]:
    """Every file path (without scheme) the table's metadata reaches: metadata log, manifests, data and delete files."""
    io = table.io
    paths = [table.metadata_location, *(entry.metadata_file for entry in table.metadata.metadata_log)]
    paths += [s.statistics_path for s in table.metadata.statistics]
    paths += [s.statistics_path for s in table.metadata.partition_statistics]
    read: set[str] = set()
    for snapshot in table.snapshots():
        paths.append(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            if manifest.manifest_path in read:  # most manifests are shared by many snapshots: read each once
                continue
            read.add(manifest.manifest_path)
            paths.append(manifest.manifest_path)
            paths.extend(entry.data_file.file_path for entry in manifest.fetch_manifest_entry(io, discard_deleted=False))
    return {PyArrowFileIO.parse_location(p)[2] for p in paths if p}
