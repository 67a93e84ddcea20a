"""The KV service's gRPC server: `METHODS` behind grpcio's generic handlers on `grpc.aio`.

Why asyncio and not grpcio's thread-pool server: the thread-pool server hands
every call to a worker thread and back, which cost more than the read itself
(a Redis get is one ~80 µs round trip). Here reads run on the event loop
directly (an engine call is short), and anything that writes runs in a thread
pool so a big batch never holds the loop. Put-batches into a network engine
go, still serialized, to writer processes (`_writers.py`): in this process
their Arrow and RESP work would hold the GIL that every read waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from concurrent import futures
from typing import Any

import grpc

from towpath.kv._api import METHODS, SERVICE_NAME, Method, get_many_response, get_response, put_batches
from towpath.kv._pb import kv_pb2 as pb
from towpath.kv._writers import WRITER_ENGINES, WriterPool
from towpath.kv.errors import KvError
from towpath.kv.pacing import probe_lag
from towpath.kv.service import ServiceCore, error_status

__all__ = ["MAX_MESSAGE", "GrpcServer"]

MAX_MESSAGE = 256 * 1024 * 1024
"""Largest gRPC message either side accepts (a put-batch of pre-encoded rows can be tens of MiB)."""


def _token(context: Any) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return str(value).removeprefix("Bearer ").strip()
    return None


class GrpcServer:
    """A `grpc.aio` server for `core`, running its own event loop in a thread."""

    def __init__(self, core: ServiceCore, host: str, port: int) -> None:
        self.core = core
        self.pool = futures.ThreadPoolExecutor(max_workers=core.config.workers, thread_name_prefix="towpath-kv-write")
        scheme = core.config.engine.split(":", 1)[0].lower()
        processes = core.config.write_processes
        self.writers = (WriterPool(core.config.engine, processes, gate=core.gate)
                        if processes and scheme in WRITER_ENGINES else None)
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self._probe: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, args=(host, port), name="towpath-kv-grpc", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._failure is not None or not self.port:
            self._shutdown_pools()
            why = f": {self._failure}" if self._failure is not None else " (in use?)"
            raise KvError(f"cannot listen for gRPC on {host}:{port}{why}")

    def stop(self) -> None:
        """Stop serving (2 s of grace for calls in flight), then the pools, even if the server's stop timed out:
        writer processes left waiting for work would keep the interpreter's exit waiting for them forever."""
        try:
            if self._server is not None:
                if self._probe is not None:
                    self._loop.call_soon_threadsafe(self._probe.cancel)
                with contextlib.suppress(TimeoutError):  # a stuck call must not keep the process alive
                    asyncio.run_coroutine_threadsafe(self._server.stop(2), self._loop).result(10)
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(10)
                self._server = None
        finally:
            self._shutdown_pools()

    def _shutdown_pools(self) -> None:
        self.pool.shutdown(wait=False)
        if self.writers is not None:
            self.writers.close()

    # -- internals -----------------------------------------------------------------------------------

    def _run(self, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = grpc.aio.server(options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE),
                ("grpc.so_reuseport", 0)])
            handlers = {name: self._handler(name, method) for name, method in METHODS.items()}
            self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
            self.port = self._server.add_insecure_port(f"{host}:{port}")
            if self.port:
                self._loop.run_until_complete(self._server.start())
                if self.core.pacer is not None:
                    self._probe = self._loop.create_task(probe_lag(self.core.pacer, "grpc"))
        except (grpc.RpcError, OSError, RuntimeError) as exc:  # reported to the starting thread, which raises it
            self._failure = exc
        finally:
            self._ready.set()
        if self.port and self._failure is None:
            self._loop.run_forever()

    def _handler(self, name: str, method: Method) -> Any:
        core = self.core

        async def guarded(context: Any, work: Callable[[], Any]) -> Any:
            try:
                with core.observe("grpc", name):
                    core.authorize(method.access, _token(context))
                    return await work()
            except KvError as exc:
                await context.abort(getattr(grpc.StatusCode, error_status(exc)[1]), f"{type(exc).__name__}: {exc}")

        if name == "PutBatch":
            async def stream(requests: AsyncIterator[Any], context: Any) -> Any:
                async def work() -> pb.PutBatchResponse:
                    # one batch is written (by a writer) while the next is received
                    rows = batches = 0
                    namespace = ""
                    pending: asyncio.Future[tuple[str, int]] | None = None
                    async for request in requests:
                        if pending is not None:
                            namespace, written = await pending
                            rows += written
                        pending = asyncio.ensure_future(self._put(request, namespace))
                        batches += 1
                    if pending is not None:
                        rows += (await pending)[1]
                    core.rows_written.inc(rows)
                    return pb.PutBatchResponse(rows=rows, batches=batches)

                return await guarded(context, work)

            # writer processes parse the messages themselves: the loop only passes their bytes on
            return grpc.stream_unary_rpc_method_handler(
                stream, request_deserializer=None if self.writers is not None else method.request.FromString,
                response_serializer=method.response.SerializeToString)

        reads_async = bool(getattr(core.store, "reads_async", False))

        async def unary(request: Any, context: Any) -> Any:
            async def work() -> Any:
                if name == "Get" and reads_async:  # awaited on the loop: many reads in flight at once
                    return get_response(await core.store.get_async(request.namespace, request.key))  # type: ignore[attr-defined]
                if name == "GetMany" and reads_async:
                    keys = list(request.keys)
                    return get_many_response(await core.store.get_many_async(request.namespace, keys))  # type: ignore[attr-defined]
                if method.access == "read":
                    return method.run(core.store, request)  # short: on the loop, no thread hand-off
                return await asyncio.get_running_loop().run_in_executor(self.pool, method.run, core.store, request)

            return await guarded(context, work)

        return grpc.unary_unary_rpc_method_handler(
            unary, request_deserializer=method.request.FromString, response_serializer=method.response.SerializeToString)

    async def _put(self, request: bytes | pb.PutBatchRequest, namespace: str) -> tuple[str, int]:
        """Write one put-batch message (`namespace` when it names none): (its namespace, rows written)."""
        if self.writers is not None:
            assert isinstance(request, bytes)
            return await self.writers.write(request, namespace)
        assert isinstance(request, pb.PutBatchRequest)
        request.namespace = request.namespace or namespace
        loop = asyncio.get_running_loop()
        written = await loop.run_in_executor(self.pool, put_batches, self.core.store, [request], self.core.gate)
        return request.namespace, written.rows
