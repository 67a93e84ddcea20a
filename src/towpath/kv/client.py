"""`Client`: the KV service (`towpath kv serve`) as a `KvStore`, over gRPC or HTTP, with typed reads.

`Client("grpc://127.0.0.1:8471", token=...)` implements the same contract as the
engines, so `towpath move` writes to the service or to an engine alike; its
`put_batch` sends each batch as one Arrow IPC payload (the service hands the
buffers to the engine as they are). Reads are typed when asked: give `get` a
protobuf key message and it returns the value message, decoded with the class
`protoc` generated (inferred from the key's module, `KeyMessage` ->
`ValueMessage`, or passed as `value_class`).

>>> # client = Client("grpc://127.0.0.1:8471")
>>> # client.get("profiles", profiles_pb2.KeyMessage(profile_id=7))  -> ValueMessage(email=..., age=...)
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pyarrow as pa
from google.protobuf.message import Message

from towpath.kv._api import SERVICE_NAME, arrow_batch
from towpath.kv._pb import kv_pb2 as pb
from towpath.kv.engines import mask_url
from towpath.kv.errors import (
    InvalidNameError,
    KvAuthError,
    KvError,
    KvUnavailableError,
    KvUrlError,
    NamespaceExistsError,
    NamespaceInUseError,
    NamespaceNotFoundError,
)
from towpath.kv.store import DEFAULT_SCAN_LIMIT, Binaries, Cursor, StoreBase, as_bytes_list

__all__ = ["Client", "open_client", "rebuilt_error", "value_class_for"]

M = TypeVar("M", bound=Message)

_ERRORS: dict[str, type[KvError]] = {cls.__name__: cls for cls in (
    KvError, KvUrlError, KvAuthError, KvUnavailableError, InvalidNameError,
    NamespaceExistsError, NamespaceInUseError, NamespaceNotFoundError,
)}
"""The errors the service sends back by name (gRPC details `<Type>: <message>`, HTTP JSON `type`)."""

_BY_CODE: dict[str, type[KvError]] = {"UNAUTHENTICATED": KvAuthError, "UNAVAILABLE": KvUnavailableError,
                                      "DEADLINE_EXCEEDED": KvUnavailableError}


def _remote_error(code: str, details: str, kind: str | None = None) -> KvError:
    """The `KvError` the service raised, rebuilt here: the same class and message."""
    if kind is None:
        kind, sep, message = details.partition(": ")
        if not sep or kind not in _ERRORS:
            kind, message = "", details
    else:
        message = details
    return rebuilt_error(kind, message, _BY_CODE.get(code, KvError))


def rebuilt_error(kind: str, message: str, default: type[KvError] = KvError) -> KvError:
    """A `KvError` of class `kind` (a name from `towpath.kv.errors`) with `message`, raised elsewhere and sent here."""
    cls = _ERRORS.get(kind) or default
    error = cls.__new__(cls)
    KvError.__init__(error, message)
    return error


def open_client(url: str, *, token: str | None = None, root: Path | None = None) -> Client:
    """The `KV_ENGINES` opener of `http://`, `https://` and `grpc://` URLs."""
    del root
    return Client(url, token=token)


def value_class_for(key_class: type[Message]) -> type[Message]:
    """The value message class generated beside `key_class`: `XKey...` -> `XValue...` in its module, else `ValueMessage`."""
    module = sys.modules.get(key_class.__module__)
    names = [key_class.__name__.replace("Key", "Value", 1), "ValueMessage"]
    for name in names:
        found = getattr(module, name, None)
        if isinstance(found, type) and issubclass(found, Message) and found is not key_class:
            return found
    raise KvError(f"cannot infer the value message of {key_class.__name__} (looked for {' or '.join(names)} in "
                  f"{key_class.__module__}): pass value_class=")


def _payload(keys: Binaries, values: Binaries) -> bytes:
    """One batch as Arrow IPC; Python sequences are checked here (the engine checks Arrow arrays' nulls)."""
    if not hasattr(keys, "type"):
        keys = as_bytes_list(keys, "keys")
    if not hasattr(values, "type"):
        values = as_bytes_list(values, "values")
    if len(keys) != len(values):
        raise KvError(f"put_batch got {len(keys)} keys but {len(values)} values")
    return arrow_batch(keys, values)


class _Grpc:
    def __init__(self, target: str, token: str | None, url: str) -> None:
        import grpc

        from towpath.kv._grpc import MAX_MESSAGE

        self._grpc = grpc
        self.url = url
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)])
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._calls: dict[str, Any] = {}

    def call(self, name: str, request: Message, response: type[M]) -> M:
        stub = self._calls.get(name)
        if stub is None:
            stub = self.channel.unary_unary(f"/{SERVICE_NAME}/{name}", request_serializer=type(request).SerializeToString,
                                            response_deserializer=response.FromString)
            self._calls[name] = stub
        try:
            return stub(request, metadata=self.metadata)  # type: ignore[no-any-return]
        except self._grpc.RpcError as exc:
            raise _remote_error(exc.code().name, exc.details() or str(exc)) from None

    def stream(self, requests: Iterator[pb.PutBatchRequest]) -> pb.PutBatchResponse:
        stub = self.channel.stream_unary(f"/{SERVICE_NAME}/PutBatch", request_serializer=pb.PutBatchRequest.SerializeToString,
                                         response_deserializer=pb.PutBatchResponse.FromString)
        try:
            return stub(requests, metadata=self.metadata)  # type: ignore[no-any-return]
        except self._grpc.RpcError as exc:
            raise _remote_error(exc.code().name, exc.details() or str(exc)) from None

    def close(self) -> None:
        self.channel.close()


class _Http:
    def __init__(self, base: str, token: str | None, url: str) -> None:
        import httpx

        self._httpx = httpx
        self.url = url
        headers = {"content-type": "application/x-protobuf"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=base, headers=headers, timeout=60)

    def call(self, name: str, request: Message, response: type[M]) -> M:
        try:
            answer = self.http.post(f"/v1/rpc/{name}", content=request.SerializeToString())
        except self._httpx.TransportError as exc:
            raise KvUnavailableError(f"{self.url}: the KV service is unreachable: {exc}") from None
        if answer.status_code != 200:
            try:
                body = answer.json()
            except ValueError:
                body = {"error": answer.text, "code": "UNAVAILABLE" if answer.status_code >= 500 else ""}
            raise _remote_error(str(body.get("code", "")), str(body.get("error", answer.text)), str(body.get("type", "")))
        return response.FromString(answer.content)

    def stream(self, requests: Iterator[pb.PutBatchRequest]) -> pb.PutBatchResponse:
        rows = batches = 0
        for request in requests:
            answer = self.call("PutBatch", request, pb.PutBatchResponse)
            rows, batches = rows + answer.rows, batches + answer.batches
        return pb.PutBatchResponse(rows=rows, batches=batches)

    def close(self) -> None:
        self.http.close()


class Client(StoreBase):
    """The KV service as a `KvStore`: `grpc://host:port` (fastest) or `http(s)://host:port`.

    Args:
        url: Where `towpath kv serve` listens.
        token: Sent as `Authorization: Bearer <token>`: the write token for writes
            and admin calls, or the read token when the service has one.
    """

    def __init__(self, url: str, token: str | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"grpc", "http", "https"} or not parts.hostname or not parts.port:
            raise KvUrlError(f"KV service URL {mask_url(url)!r}: expected grpc://host:port or http://host:port")
        self.url = mask_url(url)
        if parts.scheme == "grpc":
            self._transport: _Grpc | _Http = _Grpc(f"{parts.hostname}:{parts.port}", token, self.url)
        else:
            self._transport = _Http(f"{parts.scheme}://{parts.hostname}:{parts.port}", token, self.url)

    # -- namespaces ----------------------------------------------------------------------------------

    def create_namespace(self, ns: str) -> None:
        self._transport.call("CreateNamespace", pb.NamespaceRequest(namespace=ns), pb.Empty)

    def drop_namespace(self, ns: str) -> None:
        self._transport.call("DropNamespace", pb.NamespaceRequest(namespace=ns), pb.Empty)

    def namespaces(self) -> list[str]:
        return list(self._transport.call("ListNamespaces", pb.Empty(), pb.NamespacesResponse).namespaces)

    def count(self, ns: str) -> int:
        return int(self._transport.call("Count", pb.NamespaceRequest(namespace=ns), pb.CountResponse).count)

    # -- writes --------------------------------------------------------------------------------------

    def put_batch(self, ns: str, keys: Binaries, values: Binaries) -> int:
        return self.put_batches(ns, [(keys, values)])

    def put_batches(self, ns: str, batches: Iterable[tuple[Binaries, Binaries]]) -> int:
        """Stream many batches in one call (one gRPC stream): what a move through the service uses.

        A batch that cannot be sent (keys and values of different lengths, a key
        that is not bytes) ends the stream and is raised here, after the service
        has answered for the batches before it.
        """
        failure: list[Exception] = []

        def requests() -> Iterator[pb.PutBatchRequest]:
            try:
                for keys, values in batches:
                    yield pb.PutBatchRequest(namespace=ns, arrow_ipc=_payload(keys, values))
            except (KvError, TypeError, ValueError, pa.ArrowException) as exc:  # grpc would swallow it into "Exception iterating requests!"
                failure.append(exc)

        rows = int(self._transport.stream(requests()).rows)
        if failure:
            raise failure[0]
        return rows

    def delete_batch(self, ns: str, keys: Binaries) -> int:
        request = pb.DeleteBatchRequest(namespace=ns, keys=as_bytes_list(keys, "keys"))
        return int(self._transport.call("DeleteBatch", request, pb.CountResponse).count)

    # -- reads ---------------------------------------------------------------------------------------

    def get(self, ns_or_alias: str, key: Any, value_class: type[Message] | None = None) -> Any:
        """The value of `key` (bytes, or a key message), or None.

        With a key message, or with `value_class`, the value comes back decoded
        as that message class; with bytes alone, as bytes.
        """
        raw_key, decode = self._typed(key, value_class)
        answer = self._transport.call("Get", pb.GetRequest(namespace=ns_or_alias, key=raw_key), pb.GetResponse)
        if not answer.found:
            return None
        return answer.value if decode is None else decode.FromString(answer.value)

    def get_many(self, ns_or_alias: str, keys: Any, value_class: type[Message] | None = None) -> list[Any]:
        """The values of `keys` in order (None where missing), all from one version; typed like `get`."""
        items = list(keys) if not hasattr(keys, "to_pylist") else keys.to_pylist()
        decode = None
        raw: list[bytes] = []
        for item in items:
            data, decode = self._typed(item, value_class)
            raw.append(data)
        if not items and value_class is not None:
            decode = value_class
        answer = self._transport.call("GetMany", pb.GetManyRequest(namespace=ns_or_alias, keys=raw), pb.GetManyResponse)
        return [(v if decode is None else decode.FromString(v)) if f else None for v, f in zip(answer.values, answer.found)]

    def scan(self, ns: str, cursor: Cursor | None = None, limit: int = DEFAULT_SCAN_LIMIT, *,
             key_class: type[Message] | None = None, value_class: type[Message] | None = None) -> tuple[
        list[tuple[Any, Any]], Cursor | None
    ]:
        """A page of (key, value) pairs (decoded when `key_class`/`value_class` are given) and the next cursor."""
        if limit < 1:
            raise KvError(f"scan limit must be at least 1, got {limit}")
        answer = self._transport.call("Scan", pb.ScanRequest(namespace=ns, cursor=cursor or "", limit=limit),
                                      pb.ScanResponse)
        rows = [(key_class.FromString(k) if key_class else k, value_class.FromString(v) if value_class else v)
                for k, v in zip(answer.keys, answer.values)]
        return rows, answer.next_cursor or None

    # -- aliases -------------------------------------------------------------------------------------

    def set_alias(self, alias: str, ns: str) -> None:
        self._transport.call("SetAlias", pb.SetAliasRequest(alias=alias, namespace=ns), pb.Empty)

    def alias(self, alias: str) -> str | None:
        return self._transport.call("GetAlias", pb.AliasRequest(alias=alias), pb.AliasResponse).namespace or None

    def aliases(self) -> dict[str, str]:
        return dict(self._transport.call("ListAliases", pb.Empty(), pb.AliasesResponse).aliases)

    def close(self) -> None:
        self._transport.close()

    @staticmethod
    def _typed(key: Any, value_class: type[Message] | None) -> tuple[bytes, type[Message] | None]:
        if isinstance(key, Message):
            return key.SerializeToString(), value_class or value_class_for(type(key))
        if not isinstance(key, (bytes, bytearray, memoryview)):
            raise KvError(f"a key must be bytes or a protobuf message, got {type(key).__name__}")
        return bytes(key), value_class
