"""pyiceberg's shared thread pool, running a one-item `map` on the calling thread.

pyiceberg hands each scan plan's manifests and each write's data files to its
process-wide executor with `map`, also when there is only one: the daily
partition a WAP run writes, the one manifest of a branch an audit plans. The
hop to a pool thread and back then costs more than the work (in a warm seed run
the 19k-row Parquet write took 12.6 ms on a pool thread and 8.6 ms inline, and
seven one-manifest plans waited 3.5 ms for threads). Two items or more still go
to the pool, so large scans and writes keep their parallelism.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any

from pyiceberg.utils.concurrent import ExecutorFactory


class _InlineSingles(ThreadPoolExecutor):
    def map(
        self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None, chunksize: int = 1
    ) -> Iterator[Any]:
        if len(iterables) != 1:
            return super().map(fn, *iterables, timeout=timeout, chunksize=chunksize)
        items = iter(iterables[0])
        head = list(islice(items, 2))
        if len(head) == 2:
            return super().map(fn, [*head, *items], timeout=timeout, chunksize=chunksize)
        return iter([fn(item) for item in head])


def install() -> None:
    """Make pyiceberg's executor an `_InlineSingles` in this process (and in any child it forks)."""
    ExecutorFactory._instance = _InlineSingles(max_workers=ExecutorFactory.max_workers())
    ExecutorFactory._instance_pid = os.getpid()


os.register_at_fork(after_in_child=install)
