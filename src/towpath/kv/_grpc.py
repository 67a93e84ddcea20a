"""The KV service's gRPC server: `METHODS` behind grpcio's generic handlers (no generated stubs needed)."""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc

from towpath.kv._api import METHODS, SERVICE_NAME, Method
from towpath.kv.errors import KvError
from towpath.kv.service import ServiceCore, error_status

__all__ = ["MAX_MESSAGE", "grpc_server"]

MAX_MESSAGE = 256 * 1024 * 1024
"""Largest gRPC message either side accepts (a put-batch of pre-encoded rows can be tens of MiB)."""


def _token(context: Any) -> str | None:
    for key, value in context.invocation_metadata():
        if key == "authorization":
            return str(value).removeprefix("Bearer ").strip()
    return None


def _handler(core: ServiceCore, name: str, method: Method) -> Any:
    def handle(request: Any, context: Any) -> Any:
        try:
            with core.observe("grpc", name):
                core.authorize(method.access, _token(context))
                response = method.run(core.store, request)
                if name == "PutBatch":
                    core.rows_written.inc(response.rows)
                return response
        except KvError as exc:
            context.abort(getattr(grpc.StatusCode, error_status(exc)[1]), f"{type(exc).__name__}: {exc}")

    if name == "PutBatch":
        return grpc.stream_unary_rpc_method_handler(
            handle, request_deserializer=method.request.FromString,
            response_serializer=method.response.SerializeToString)
    return grpc.unary_unary_rpc_method_handler(
        handle, request_deserializer=method.request.FromString, response_serializer=method.response.SerializeToString)


def grpc_server(core: ServiceCore, host: str, port: int) -> tuple[Any, int]:
    """A started gRPC server for `core` on host:port (0: a free port) and the port it bound."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=core.config.workers, thread_name_prefix="towpath-kv-grpc"),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE),
                 ("grpc.so_reuseport", 0)],
    )
    handlers = {name: _handler(core, name, method) for name, method in METHODS.items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise KvError(f"cannot listen for gRPC on {host}:{port} (in use?)")
    server.start()
    return server, bound
