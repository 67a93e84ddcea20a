"""Arrow memory that goes back to the OS as soon as it is freed, for long streaming work (a move, the service).

pyarrow's default pool (mimalloc) keeps freed pages for reuse, which is right
for short queries but wrong for a process that streams gigabytes through
small batches: a 10M-row move held ~460 MiB of RSS for ~100 MiB of live Arrow
data. jemalloc with a decay time of 0 returns dirty pages at once (measured:
the same read peaks at ~310 MiB and is not slower). Switched at runtime for
the duration of the work, so nothing else in the process changes: the pool and
jemalloc's decay are put back after (the catalog makes jemalloc, at pyarrow's
own decay, every process's default: `towpath.catalog._memory`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pyarrow as pa

__all__ = ["returning_memory"]

ARROW_DECAY_MS = 1000
"""pyarrow's own jemalloc decay (`dirty_decay_ms:1000` in the malloc_conf it builds jemalloc with)."""


@contextlib.contextmanager
def returning_memory() -> Iterator[None]:
    """Allocate Arrow buffers from jemalloc with immediate decay inside the block (a no-op where jemalloc is missing)."""
    previous = pa.default_memory_pool()
    try:
        pool = pa.jemalloc_memory_pool()
        pa.jemalloc_set_decay_ms(0)
    except NotImplementedError:  # a pyarrow build without jemalloc (Windows): keep the default
        yield
        return
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.jemalloc_set_decay_ms(ARROW_DECAY_MS)
        pa.set_memory_pool(previous)
