"""The KV service's put-batches in writer processes, so a bulk load never holds the GIL readers wait for.

A move streams hundreds of thousands of rows a second through the service.
Written in the service's own process, each batch's Arrow and RESP work holds
the GIL in slices that a Get on the event loop must wait behind (measured:
p99 in seconds while a move ran). Here the loop hands each PutBatch message,
still serialized, to a pool of processes that parse and write it, run at a
lower CPU priority (`nice`): on a busy machine the kernel runs the reads
first, and the bulk write takes what is left. They share the service's
`WriteGate`, which paces them while reads are served (`pacing.py`).

Engines that are a network server (Redis, Redis Cluster, PostgreSQL) take
writes from several processes as they take them from several clients; the
embedded engine's files stay written by the service's own threads.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from towpath.kv.errors import KvError
from towpath.kv.pacing import WriteGate

__all__ = ["WRITER_ENGINES", "WriterPool"]

WRITER_ENGINES = ("redis", "rediss", "redis+cluster", "postgresql", "postgres")
"""URL schemes whose stores writer processes may open alongside the service's own connection."""

NICE = 10
"""How much lower the writers' CPU priority is than the service's (readers) own."""

_store: Any = None
_gate: WriteGate | None = None


def _start(url: str, nice: int, gate: WriteGate | None) -> None:
    """Each writer process: lower its priority, open its own connection to the store, share the service's gate."""
    from towpath.kv.engines import open_store

    global _store, _gate
    os.nice(nice)
    _store, _gate = open_store(url), gate


def _ready() -> bool:
    return _store is not None


def _write(payload: bytes, namespace: str) -> tuple[str, str, int | str]:
    """Parse and write one serialized PutBatchRequest: ("ok", namespace, rows) or ("error", error class, message)."""
    from towpath.kv._api import put_batches
    from towpath.kv._pb import kv_pb2 as pb

    try:
        request = pb.PutBatchRequest.FromString(payload)
        request.namespace = request.namespace or namespace
        return "ok", request.namespace, put_batches(_store, [request], _gate).rows
    except KvError as exc:
        return "error", type(exc).__name__, str(exc)
    except Exception as exc:  # noqa: BLE001 - a malformed message: reported to the caller, the writer lives on
        return "error", "KvError", f"put-batch: {type(exc).__name__}: {exc}"


class WriterPool:
    """`processes` writer processes of one store URL (unmasked: they connect with its credentials)."""

    def __init__(self, url: str, processes: int, nice: int = NICE, gate: WriteGate | None = None) -> None:
        # spawn, not fork: the service already runs gRPC and event-loop threads
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(processes, mp_context=context, initializer=_start, initargs=(url, nice, gate))
        self._warm = [self._pool.submit(_ready) for _ in range(processes)]  # start them now, not at the first batch

    async def write(self, payload: bytes, namespace: str) -> tuple[str, int]:
        """Write one serialized PutBatchRequest (`namespace` when it names none): (its namespace, rows written)."""
        from towpath.kv.client import rebuilt_error

        status, name, detail = await asyncio.wrap_future(self._pool.submit(_write, payload, namespace))
        if status == "error":
            raise rebuilt_error(name, str(detail))
        return name, int(detail)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
