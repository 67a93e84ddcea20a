"""Search room: embedded full-text indexes (Tantivy), one folder per index under `.towpath/search/`.

Any room can keep an index current (`SearchIndex.upsert`/`delete`/`commit`,
documents keyed by a string key), and `towpath search INDEX "QUERY"` finds
documents in it. Each document's fields are one JSON object, so a column added
at the source appears in the index without a rebuild.
"""

from towpath.search.index import (
    SEARCH_DIR,
    SearchError,
    SearchHit,
    SearchIndex,
    SearchResult,
    index_path,
    list_indexes,
    open_index,
)

__all__ = [
    "SEARCH_DIR", "SearchError", "SearchHit", "SearchIndex", "SearchResult", "index_path", "list_indexes",
    "open_index",
]
