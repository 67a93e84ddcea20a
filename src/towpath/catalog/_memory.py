"""Arrow's memory pool for this process: jemalloc, unless the user chose one.

pyarrow's wheels default to mimalloc, which hands freed pages back to the
kernel within milliseconds. A warm process (the worker, the scheduler, a
notebook) then pays a page fault for every page of each run's buffers again:
on this project's benchmark machine (a VM) that doubled the Parquet write of a
19k-row daily partition, 11 -> 23 ms, most of it kernel time. jemalloc, as
pyarrow configures it, keeps freed pages for a second, so a run's buffers reuse
the last run's. `ARROW_DEFAULT_MEMORY_POOL` still decides when it is set.
"""

from __future__ import annotations

import os

import pyarrow as pa

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def install() -> None:
    """Make jemalloc Arrow's default pool if this build has it and nobody chose another."""
    if os.environ.get(POOL_VARIABLE) or "jemalloc" not in pa.supported_memory_backends():
        return
    pa.set_memory_pool(pa.jemalloc_memory_pool())
