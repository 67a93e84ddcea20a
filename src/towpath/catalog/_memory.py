"""Arrow's memory pool for this process: jemalloc, unless the user chose one.

pyarrow's wheels default to mimalloc. With it, each warm run's Parquet write of
the daily partition (19k rows, a warm seed run on the benchmark VM) spent most
of its time in the kernel faulting in pages: `write_table` took 12-50 ms, 3-41
ms of it system time; from jemalloc (or the system allocator) it took 4-7 ms,
and the whole write 23 -> 11 ms. The worker, the scheduler and a notebook are
warm processes, so they paid it on every run. `ARROW_DEFAULT_MEMORY_POOL` still
decides when it is set; a move sets its own decay (`towpath.kv.returning_memory`).
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
