"""One Tantivy index: documents keyed by a string, fields in one JSON object, metadata beside it.

Why one JSON field rather than a Tantivy field per column: a Tantivy schema is
fixed when the index is created, but sources gain columns; in a JSON field a new
column is just a new key, searchable at once (`city:Boston` is rewritten to
`doc.city:Boston`). Bare words search `_all`, every value of the document as
one text (built with Arrow, not row by row). `_key` is a raw (untokenized) field so an update deletes
exactly the old version of its document.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from towpath.errors import NotInstalledError, TowpathError, UnknownNameError

if TYPE_CHECKING:
    import tantivy

__all__ = ["SEARCH_DIR", "SearchError", "SearchHit", "SearchIndex", "SearchResult", "index_path", "list_indexes",
           "open_index"]

SEARCH_DIR = Path(".towpath") / "search"
"""Where a project's indexes live, relative to its root."""

_KEY, _DOC, _ALL = "_key", "doc", "_all"
_META = "towpath-index.json"
_WRITER_HEAP = 64 * 1024 * 1024


class SearchError(TowpathError):
    """A search index could not be opened, written or queried."""


def _tantivy() -> Any:
    try:
        import tantivy
    except ImportError:
        raise NotInstalledError("search index", "tantivy", extra="search", missing="tantivy") from None
    return tantivy


def index_path(root: Path, name: str) -> Path:
    return root / SEARCH_DIR / name


def list_indexes(root: Path) -> list[str]:
    folder = root / SEARCH_DIR
    return sorted(p.name for p in folder.iterdir() if (p / _META).exists()) if folder.is_dir() else []


def open_index(root: Path, name: str, *, create: bool = False) -> SearchIndex:
    """The index `name` of the project at `root`; an unknown name (without `create`) suggests close ones."""
    path = index_path(root, name)
    if not (path / _META).exists():
        if not create:
            known = list_indexes(root)
            if not known:
                raise SearchError(f"no search index '{name}': {root / SEARCH_DIR} has none yet "
                                  "(a CDC job with a `type: search` target creates it)")
            raise UnknownNameError("search index", name, known)
        path.mkdir(parents=True, exist_ok=True)
        _write_json(path / _META, {"meta": {}})
    return SearchIndex(name, path)


@dataclass(frozen=True)
class SearchHit:
    key: str
    score: float
    fields: dict[str, Any]


@dataclass(frozen=True)
class SearchResult:
    index: str
    query: str
    total: int
    """Documents matching (not only the ones returned)."""
    hits: list[SearchHit]


class SearchIndex:
    """A Tantivy index on disk. One writer at a time (Tantivy locks it); readers any time."""

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path = name, path
        tv = _tantivy()
        builder = tv.SchemaBuilder()
        builder.add_text_field(_KEY, stored=True, tokenizer_name="raw")
        builder.add_json_field(_DOC, stored=True)
        builder.add_text_field(_ALL)
        self._schema = builder.build()
        try:
            self._index = tv.Index(self._schema, path=str(path), reuse=True)
        except (OSError, ValueError) as exc:
            raise SearchError(f"cannot open search index {name} at {path}: {exc}") from exc
        self._writer: tantivy.IndexWriter | None = None

    # -- metadata (the writer's own bookkeeping, e.g. a CDC position) ----------------------------

    def meta(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / _META).read_text())["meta"]
        return data

    # -- writing -------------------------------------------------------------------------------

    def _writer_(self) -> tantivy.IndexWriter:
        if self._writer is None:
            try:
                self._writer = self._index.writer(heap_size=_WRITER_HEAP, num_threads=1)
            except ValueError as exc:  # another process holds the lock
                raise SearchError(f"search index {self.name} is being written by another process: {exc}") from exc
        return self._writer

    def delete(self, keys: pa.Array) -> None:
        writer = self._writer_()
        for key in keys.to_pylist():
            writer.delete_documents_by_term(_KEY, key)

    def upsert(self, keys: pa.Array, docs: pa.Table) -> None:
        """Replace the documents of `keys` by the rows of `docs` (one row per key)."""
        self.delete(keys)
        self.add(keys, docs)

    def add(self, keys: pa.Array, docs: pa.Table) -> None:
        """Add documents whose keys are not in the index yet (a fresh load)."""
        writer, tv = self._writer_(), _tantivy()
        docs = _jsonable(docs)
        texts = _all_text(docs).to_pylist()
        for key, doc, text in zip(keys.to_pylist(), docs.to_pylist(), texts, strict=True):
            writer.add_document(tv.Document(**{_KEY: key, _ALL: text or "",
                                               _DOC: {k: v for k, v in doc.items() if v is not None}}))

    def clear(self) -> None:
        self._writer_().delete_all_documents()

    def commit(self, meta: Mapping[str, Any] | None = None) -> None:
        """Make the pending changes durable, then record `meta` (a crash between the two replays, idempotently)."""
        self._writer_().commit()
        if meta is not None:
            _write_json(self.path / _META, {"meta": dict(meta)})

    def close(self) -> None:
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None

    # -- reading -------------------------------------------------------------------------------

    def count(self) -> int:
        self._index.reload()
        return int(self._index.searcher().num_docs)

    def documents(self) -> dict[str, dict[str, Any]]:
        """Every document by key (for checks and small indexes)."""
        n = self.count()
        return {h.key: h.fields for h in self.search("*", limit=max(n, 1)).hits} if n else {}

    def search(self, query: str, *, filters: Mapping[str, str] | None = None, limit: int = 10) -> SearchResult:
        """Documents matching `query` (Tantivy query syntax over every field) and every `field=value` filter.

        `field:value` in the query names a column; `*` matches everything.
        """
        tv = _tantivy()
        self._index.reload()
        text = query.strip()
        try:
            parsed = (tv.Query.all_query() if text in ("", "*")
                      else self._index.parse_query(_qualify(text), [_ALL]))
        except ValueError as exc:
            raise SearchError(f"cannot parse the query {query!r}: {exc}") from None
        clauses = [(tv.Occur.Must, parsed)]
        for field, value in (filters or {}).items():
            try:
                clauses.append((tv.Occur.Must, self._index.parse_query(f'{_DOC}.{field}:"{_escape(value)}"', [_DOC])))
            except ValueError as exc:
                raise SearchError(f"bad filter {field}={value}: {exc}") from None
        searcher = self._index.searcher()
        result = searcher.search(tv.Query.boolean_query(clauses), limit=limit, count=True)
        hits = []
        for score, address in result.hits:
            doc = searcher.doc(address)
            hits.append(SearchHit(doc.get_first(_KEY), float(score), doc.get_first(_DOC) or {}))
        return SearchResult(self.name, query, int(result.count or 0), hits)


_FIELD_REF = re.compile(r"(?<![\w.\"])([A-Za-z_][A-Za-z0-9_]*):")


def _qualify(query: str) -> str:
    """`city:Boston` -> `doc.city:Boston`: columns live inside the JSON field."""
    return _FIELD_REF.sub(lambda m: f"{_DOC}.{m.group(1)}:", query)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _jsonable(docs: pa.Table) -> pa.Table:
    """Columns JSON can hold: temporal and decimal values as their ISO / float forms (vectorised)."""
    columns = []
    for column in docs.columns:
        t = column.type
        if pa.types.is_temporal(t):
            column = pc.cast(column, pa.string())
        elif pa.types.is_decimal(t):
            column = pc.cast(column, pa.float64())
        elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
            column = pc.binary_length(column)  # bytes are not searchable text; keep their size
        columns.append(column)
    return pa.table(columns, names=docs.column_names)


def _all_text(docs: pa.Table) -> pa.Array:
    """Every column's value as text, joined by spaces (nulls skipped): what bare query words search."""
    if docs.num_columns == 0:
        return pa.array([""] * docs.num_rows)
    parts = [pc.cast(c, pa.string()) for c in docs.columns]
    joined = pc.binary_join_element_wise(*parts, " ", null_handling="skip")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
