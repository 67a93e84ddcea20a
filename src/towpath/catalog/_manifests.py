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

A commit's own files are known before anyone reads them: the manifests and the
manifest list it writes go into the caches as written (`remember_written`), so
the audits planning a WAP branch right after its write decode nothing (3.4 ms of
a warm seed run: a manifest list and two manifests). Only files whose list was
written completely are kept, as a fresh read of them would return, and only for
format 2 (the default), where every field a read returns is one the file holds.

Writing a manifest also rebuilt, for every file, the schemas of its entries and
the Avro writer tree that encodes them (~0.33 ms a manifest, three files a data
commit), though they depend only on the partition type and the format version:
they are built once (`_entry_schema`, `_resolve_writer`). pyiceberg's writers are
frozen dataclasses, so one tree serves every file. So is each file's header: the
Avro schema JSON of those (kept) entry schemas and of the manifest list, and the
writer of the header record (`_write_header`: ~0.2 ms a file, three files a commit).
"""

from __future__ import annotations

import functools
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, TypeVar

from pyiceberg import manifest as pyiceberg_manifest
from pyiceberg.avro import file as avro_file
from pyiceberg.avro.codecs import AVRO_CODEC_KEY, CODEC_MAPPING_ICEBERG_TO_AVRO
from pyiceberg.avro.resolver import construct_writer
from pyiceberg.avro.resolver import resolve_writer as _pyiceberg_resolve_writer
from pyiceberg.avro.writer import Writer
from pyiceberg.io import FileIO
from pyiceberg.manifest import (
    DataFile,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestListWriter,
    ManifestWriter,
    _inherit_from_manifest,
)
from pyiceberg.schema import Schema
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.typedef import Record, TableVersion
from pyiceberg.types import StructType
from pyiceberg.utils.schema_conversion import AvroSchemaConversion

MAX_ENTRIES = 50_000
"""Manifest entries kept, over all manifests (one entry per data file, with its column statistics)."""
MAX_LISTS = 512
"""Manifest lists kept (one per snapshot planned or committed onto)."""

_read_entries = ManifestFile.fetch_manifest_entry
_read_list = Snapshot.manifests
_add_entry = ManifestWriter.add_entry
_to_manifest_file = ManifestWriter.to_manifest_file
_list_exit = ManifestListWriter.__exit__
_KEPT_PER_MANIFEST = MAX_ENTRIES // 4
"""A manifest written with more entries (a rewrite of a large table's) is left to be decoded if read."""
_writing: weakref.WeakKeyDictionary[ManifestWriter, list[ManifestEntry] | None] = weakref.WeakKeyDictionary()
"""Entries a manifest writer wrote so far (the writer then names the manifest); None past the bound."""
_listing: weakref.WeakKeyDictionary[ManifestListWriter, list[ManifestFile]] = weakref.WeakKeyDictionary()
"""Manifests a manifest list writer wrote, as written (with the sequence numbers it assigned)."""
_unlisted: OrderedDict[str, tuple[ManifestEntry, ...]] = OrderedDict()
"""Entries of manifests written, by path, until a manifest list naming them is closed."""
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


def add_entry(self: ManifestWriter, entry: ManifestEntry) -> ManifestWriter:
    """`ManifestWriter.add_entry`, keeping a copy of what it wrote (format 2, up to `_KEPT_PER_MANIFEST`)."""
    written = _add_entry(self, entry)
    if self.version == 2:
        with _lock:
            kept = _writing.setdefault(self, [])
            if kept is not None and len(kept) < _KEPT_PER_MANIFEST:
                kept.append(_copied(entry))
            elif kept is not None:
                _writing[self] = None
    return written


def to_manifest_file(self: ManifestWriter) -> ManifestFile:
    """`ManifestWriter.to_manifest_file`, filing its entries under the manifest's path."""
    manifest = _to_manifest_file(self)
    with _lock:
        entries = _writing.pop(self, None)
        if entries is not None:
            _unlisted[manifest.manifest_path] = tuple(entries)
            while len(_unlisted) > MAX_LISTS:
                _unlisted.popitem(last=False)
    return manifest


def add_manifests(self: ManifestListWriter, manifest_files: list[ManifestFile]) -> ManifestListWriter:
    """`ManifestListWriter.add_manifests` (each manifest prepared once, as there), keeping what it wrote."""
    prepared = [self.prepare_manifest(manifest) for manifest in manifest_files]
    self._writer.write_block(prepared)
    with _lock:
        _listing.setdefault(self, []).extend(_copied(m) for m in prepared)
    return self


def list_exit(self: ManifestListWriter, exc_type: Any, exc_value: Any, traceback: Any) -> None:
    """`ManifestListWriter.__exit__`; a list closed without error goes into the caches with its new manifests."""
    _list_exit(self, exc_type, exc_value, traceback)
    with _lock:
        listed = _listing.pop(self, [])
    # A v1 file drops the sequence numbers a read then inherits; v3 adds row lineage pyiceberg 0.12 cannot write.
    if exc_type is None and self._format_version == 2:
        remember_written(self._output_file.location, listed)


def remember_written(list_path: str, listed: Sequence[ManifestFile]) -> None:
    """Cache a manifest list just written, and the manifests written for it, as a read would decode them."""
    global _held
    with _lock:
        _lists[list_path] = tuple(listed)
        while len(_lists) > MAX_LISTS:
            _lists.popitem(last=False)
        for manifest in listed:
            written = _unlisted.pop(manifest.manifest_path, None)
            if written is None:
                continue
            every = tuple(_inherit_from_manifest(_copied(e), manifest) for e in written)
            live = tuple(e for e in every if e.status != ManifestEntryStatus.DELETED)
            for key, entries in (((manifest.manifest_path, False), every), ((manifest.manifest_path, True), live)):
                if key not in _entries:
                    _entries[key] = entries
                    _held += len(entries)
        while _held > MAX_ENTRIES:
            _held -= len(_entries.popitem(last=False)[1])


_data_file_with_partition = pyiceberg_manifest.data_file_with_partition
_manifest_entry_schema = pyiceberg_manifest.manifest_entry_schema_with_data_file
_writers: OrderedDict[tuple[int, int], tuple[Schema, Schema, Writer]] = OrderedDict()
_WRITERS_KEPT = 64


@functools.lru_cache(maxsize=64)
def _data_file_type(partition_type: StructType, format_version: TableVersion) -> StructType:
    """`data_file_with_partition`, one (immutable) struct per partition type and format version."""
    return _data_file_with_partition(partition_type, format_version)


@functools.lru_cache(maxsize=64)
def _entry_schema(format_version: TableVersion, data_file: StructType) -> Schema:
    """`manifest_entry_schema_with_data_file`, one schema per data file struct (so its identity is stable)."""
    return _manifest_entry_schema(format_version, data_file)


def _resolve_writer(record_schema: Schema, file_schema: Schema) -> Writer:
    """`resolve_writer`, kept per pair of schema objects (held here, so their ids stay theirs)."""
    key = (id(record_schema), id(file_schema))
    with _lock:
        if (known := _writers.get(key)) is not None:
            return known[2]
    writer = _pyiceberg_resolve_writer(record_schema=record_schema, file_schema=file_schema)
    with _lock:
        _writers[key] = (record_schema, file_schema, writer)
        while len(_writers) > _WRITERS_KEPT:
            _writers.popitem(last=False)
    return writer


_avro_schemas: OrderedDict[tuple[int, str], tuple[Schema, str]] = OrderedDict()


def _write_header(self: avro_file.AvroOutputFile[Any]) -> None:
    """`AvroOutputFile._write_header`, the file schema's Avro JSON kept per schema object (held here)."""
    from pyiceberg.table import TableProperties

    codec_name = self.metadata.get(AVRO_CODEC_KEY, TableProperties.WRITE_AVRO_COMPRESSION_DEFAULT)
    if avro_codec_name := CODEC_MAPPING_ICEBERG_TO_AVRO.get(codec_name):
        codec_name = avro_codec_name
    meta = {**self.metadata, avro_file._SCHEMA_KEY: _avro_schema(self.file_schema, self.schema_name),
            AVRO_CODEC_KEY: codec_name}
    _header_writer().write(self.encoder, avro_file.AvroFileHeader(avro_file.MAGIC, meta, self.sync_bytes))


def _avro_schema(schema: Schema, name: str) -> str:
    key = (id(schema), name)
    with _lock:
        if (known := _avro_schemas.get(key)) is not None:
            return known[1]
    text = json.dumps(AvroSchemaConversion().iceberg_to_avro(schema, schema_name=name))
    with _lock:
        _avro_schemas[key] = (schema, text)
        while len(_avro_schemas) > _WRITERS_KEPT:
            _avro_schemas.popitem(last=False)
    return text


@functools.cache
def _header_writer() -> Writer:
    return construct_writer(avro_file.META_SCHEMA)


R = TypeVar("R", bound=Record)


def _copied(record: R) -> R:
    """A copy of a pyiceberg record whose fields can change without changing `record` (its nested data files too).

    `copy.copy` shares a record's value list, so setting a field on the copy sets it on both.
    """
    values = [_copied(v) if isinstance(v, ManifestEntry | DataFile) else v for v in record._data]
    return type(record)(*values)


def clear() -> None:
    """Forget every decoded file (tests; a process that must release the memory)."""
    global _held
    with _lock:
        _entries.clear()
        _lists.clear()
        _unlisted.clear()
        _held = 0


def install() -> None:
    """Route pyiceberg's manifest reads and writes through this module (idempotent)."""
    for owner, name, replacement in (
        (ManifestFile, "fetch_manifest_entry", fetch_manifest_entry),
        (Snapshot, "manifests", manifests),
        (ManifestWriter, "add_entry", add_entry),
        (ManifestWriter, "to_manifest_file", to_manifest_file),
        (ManifestListWriter, "add_manifests", add_manifests),
        (ManifestListWriter, "__exit__", list_exit),
        (pyiceberg_manifest, "data_file_with_partition", _data_file_type),
        (pyiceberg_manifest, "manifest_entry_schema_with_data_file", _entry_schema),
        (avro_file, "resolve_writer", _resolve_writer),
        (avro_file.AvroOutputFile, "_write_header", _write_header),
    ):
        setattr(owner, name, replacement)
