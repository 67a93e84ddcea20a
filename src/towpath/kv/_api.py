"""The KV service's methods, once: each maps a protobuf request to a `KvStore` call and a response.

The gRPC server and the HTTP `/v1/rpc/<Method>` endpoint both dispatch through
`METHODS`, so the two APIs cannot drift apart, and `Client` speaks either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from towpath.kv._pb import kv_pb2 as pb
from towpath.kv.errors import KvError
from towpath.kv.pacing import WriteGate
from towpath.kv.service import Access
from towpath.kv.store import KvStore

__all__ = ["METHODS", "Method", "arrow_batch", "get_many_response", "get_response", "put_batches", "rows_of"]


@dataclass(frozen=True)
class Method:
    """One RPC: who may call it, its message classes, and what it does."""

    access: Access
    request: Any
    response: Any
    run: Callable[[KvStore, Any], Any]


def get_response(value: bytes | None) -> pb.GetResponse:
    return pb.GetResponse(found=False) if value is None else pb.GetResponse(found=True, value=value)


def get_many_response(values: list[bytes | None]) -> pb.GetManyResponse:
    return pb.GetManyResponse(values=[v or b"" for v in values], found=[v is not None for v in values])


def _get(store: KvStore, req: pb.GetRequest) -> pb.GetResponse:
    return get_response(store.get(req.namespace, req.key))


def _get_many(store: KvStore, req: pb.GetManyRequest) -> pb.GetManyResponse:
    return get_many_response(store.get_many(req.namespace, list(req.keys)))


def _scan(store: KvStore, req: pb.ScanRequest) -> pb.ScanResponse:
    rows, cursor = store.scan(req.namespace, req.cursor or None, req.limit or 1000)
    return pb.ScanResponse(keys=[k for k, _ in rows], values=[v for _, v in rows], next_cursor=cursor or "")


def rows_of(req: pb.PutBatchRequest) -> tuple[Any, Any]:
    """(keys, values) of one put-batch message: Arrow arrays from `arrow_ipc` (no copy), or the pairs."""
    if req.WhichOneof("rows") == "arrow_ipc":
        try:
            table = pa.ipc.open_stream(pa.py_buffer(req.arrow_ipc)).read_all()
            return table.column("key"), table.column("value")
        except (pa.ArrowInvalid, KeyError) as exc:
            raise KvError(f"put-batch: arrow_ipc must be an Arrow IPC stream with binary columns key, value: {exc}") from None
    return list(req.pairs.keys), list(req.pairs.values)


def put_batches(store: KvStore, requests: Iterable[pb.PutBatchRequest], gate: WriteGate | None = None) -> pb.PutBatchResponse:
    """Write a stream of batches; a message without a namespace goes on in the previous one.

    With the service's `gate`, each batch is admitted by it first (in chunks while reads are being paced).
    """
    namespace, rows, batches = "", 0, 0
    for req in requests:
        namespace = req.namespace or namespace
        if not namespace:
            raise KvError("put-batch: the first message of a stream must name the namespace")
        keys, values = rows_of(req)
        if gate is None:
            rows += store.put_batch(namespace, keys, values)
        else:
            rows += gate.paced(_slice_writer(store, namespace, keys, values), len(keys))
        batches += 1
    return pb.PutBatchResponse(rows=rows, batches=batches)


def _slice_writer(store: KvStore, namespace: str, keys: Any, values: Any) -> Callable[[int, int], int]:
    """Writes rows [start, stop) of one batch: what `WriteGate.paced` calls per admitted chunk."""
    return lambda start, stop: store.put_batch(namespace, keys[start:stop], values[start:stop])


def arrow_batch(keys: Any, values: Any) -> bytes:
    """One put-batch payload: `keys` and `values` as an Arrow IPC stream (the service's fast path)."""
    batch = pa.record_batch([_binary(keys), _binary(values)], names=["key", "value"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def _binary(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type in (pa.binary(), pa.large_binary()) else values.cast(pa.binary())
    return pa.array(values, pa.binary())


def _empty(fn: Callable[[KvStore, Any], object]) -> Callable[[KvStore, Any], pb.Empty]:
    def run(store: KvStore, req: Any) -> pb.Empty:
        fn(store, req)
        return pb.Empty()

    return run


METHODS: dict[str, Method] = {
    "Get": Method("read", pb.GetRequest, pb.GetResponse, _get),
    "GetMany": Method("read", pb.GetManyRequest, pb.GetManyResponse, _get_many),
    "Scan": Method("read", pb.ScanRequest, pb.ScanResponse, _scan),
    "Count": Method("read", pb.NamespaceRequest, pb.CountResponse,
                    lambda s, r: pb.CountResponse(count=s.count(r.namespace))),
    "ListNamespaces": Method("read", pb.Empty, pb.NamespacesResponse,
                             lambda s, r: pb.NamespacesResponse(namespaces=s.namespaces())),
    "GetAlias": Method("read", pb.AliasRequest, pb.AliasResponse,
                       lambda s, r: pb.AliasResponse(namespace=s.alias(r.alias) or "")),
    "ListAliases": Method("read", pb.Empty, pb.AliasesResponse, lambda s, r: pb.AliasesResponse(aliases=s.aliases())),
    "PutBatch": Method("write", pb.PutBatchRequest, pb.PutBatchResponse, lambda s, r: put_batches(s, r)),
    "DeleteBatch": Method("write", pb.DeleteBatchRequest, pb.CountResponse,
                          lambda s, r: pb.CountResponse(count=s.delete_batch(r.namespace, list(r.keys)))),
    "CreateNamespace": Method("write", pb.NamespaceRequest, pb.Empty, _empty(lambda s, r: s.create_namespace(r.namespace))),
    "DropNamespace": Method("write", pb.NamespaceRequest, pb.Empty, _empty(lambda s, r: s.drop_namespace(r.namespace))),
    "SetAlias": Method("write", pb.SetAliasRequest, pb.Empty, _empty(lambda s, r: s.set_alias(r.alias, r.namespace))),
}
"""Every RPC of `towpath.kv.v1.KeyValue` (kv.proto); `PutBatch` takes a stream of requests."""

SERVICE_NAME = "towpath.kv.v1.KeyValue"
