"""Decode each manifest list and manifest once per process.

Iceberg never rewrites a manifest list or a manifest: every commit writes new
files under new (UUID) names. pyiceberg still decodes the Avro of both every
time a scan is planned or a commit carries manifests forward: a seed run read
its two tables' manifests 10 times and their manifest lists 6 times, ~3 ms
each, most of it resolving the Avro schema before the first record. pyiceberg
keeps one `ManifestFile` object per path already (`manifest-cache-size`); this
keeps what those files decode to, by path, within a bound on the entries held.

What the cache hands out is what pyiceberg's reads return (`ManifestEntry` and
`ManifestFile` records, inherited from their manifest as on a fresh read), in a
new list each time; pyiceberg builds new entries rather than changing these.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pyiceberg.io import FileIO
from pyiceberg.manifest import ManifestEntry, ManifestFile
from pyiceberg.table.snapshots import Snapshot

MAX_ENTRIES = 50_000
"""Manifest entries kept, over all manifests (one entry per data file, with its column statistics)."""
MAX_LISTS = 512
"""Manifest lists kept (one per snapshot planned or committed onto)."""

_read_entries = ManifestFile.fetch_manifest_entry
_read_list = Snapshot.manifests
_entries: OrderedDict[tuple[str, bool], tuple[ManifestEntry, ...]] = OrderedDict()
_lists: OrderedDict[str, tuple[ManifestFile, ...]] = OrderedDict()
_held = 0
_lock = threading.Lock()


def fetch_manifest_entry(self: ManifestFile, io: FileIO, discard_deleted: bool = True) -> list[ManifestEntry]:
    """`ManifestFile.fetch_manifest_entry`, decoded once per (manifest, discard_deleted)."""
    global _held
    key = (self.manifest_path, discard_deleted)
    with _lock:
        if (known := _entries.get(key)) is not None:
            _entries.move_to_end(key)
            return list(known)
    entries = _read_entries(self, io, discard_deleted)
    if len(entries) <= MAX_ENTRIES // 4:  # one huge manifest must not push out every other table's
        with _lock:
            if key not in _entries:
                _entries[key] = tuple(entries)
                _held += len(entries)
            while _held > MAX_ENTRIES:
                _held -= len(_entries.popitem(last=False)[1])
    return entries


def manifests(self: Snapshot, io: FileIO) -> list[ManifestFile]:
    """`Snapshot.manifests`, the manifest list decoded once per snapshot."""
    if self.manifest_list is None:
        return _read_list(self, io)
    with _lock:
        if (known := _lists.get(self.manifest_list)) is not None:
            _lists.move_to_end(self.manifest_list)
            return list(known)
    listed = _read_list(self, io)
    with _lock:
        _lists[self.manifest_list] = tuple(listed)
        while len(_lists) > MAX_LISTS:
            _lists.popitem(last=False)
    return listed


def clear() -> None:
    """Forget every decoded file (tests; a process that must release the memory)."""
    global _held
    with _lock:
        _entries.clear()
        _lists.clear()
        _held = 0


def install() -> None:
    """Route pyiceberg's manifest reads through the caches (idempotent)."""
    patched: Any = ManifestFile
    patched.fetch_manifest_entry = fetch_manifest_entry
    snapshot: Any = Snapshot
    snapshot.manifests = manifests
