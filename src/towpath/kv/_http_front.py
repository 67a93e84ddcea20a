"""The KV service's HTTP point reads, answered on uvicorn's event loop without going through ASGI.

`GET /v1/kv/<namespace>/<key as base64url>` and the protobuf `POST /v1/rpc/Get` and
`/v1/rpc/GetMany` (what `Client("http://...")` sends for reads) are the calls a
service's callers wait on, thousands a second. Starlette would run each in its
thread pool against the blocking store, and even a raw ASGI handler returning a
constant costs ~220 µs of server CPU with uvicorn's h11 protocol (~140 µs with
httptools) on a 2-vCPU machine, all of it uvicorn's per-request machinery (the
scope, the request cycle, the ASGI messages), where answering the same request
from a bare `asyncio.Protocol` costs ~60 µs. So `HttpFront` is the protocol
uvicorn runs on each connection (`uvicorn.Config(http=...)`): it reads a request
head itself, answers these three routes on the loop with the read script the
gRPC path runs (the alias resolved inside Redis; a `GET /v1/kv/...` without a
coroutine: the reply's future is chained to the answer), and hands the
connection to uvicorn's own protocol, for good, at the first request it does
not take, buffered bytes and all: every other route, and any request it does
not fully understand (HTTP/1.0, a chunked or `Expect` body, a query string, a
percent-escape, an oversized head), gets the Starlette app and uvicorn's
HTTP/1.1 as before.

What the service guarantees holds on this path too: the token check, the
Prometheus metrics and the read-pacing signal (`ServiceCore.record`, the same
call gRPC's `observe` ends in, timed from the parsed head to the answer), and
the errors as the JSON `{"error", "type", "code"}` with the status of
`error_status` (a missing key is 404 `key not found`; a lost Redis 503).

Requests on one connection are answered in order, one at a time (a pipelining
client's next request waits in the buffer); a connection stays open until the
client closes it, asks `Connection: close`, or the server shuts down.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
from typing import Any, ClassVar, cast

import hiredis
from google.protobuf.message import DecodeError

from towpath.kv._api import get_many_response, get_response
from towpath.kv._pb import kv_pb2 as pb
from towpath.kv.errors import KvError
from towpath.kv.service import ServiceCore, error_status

__all__ = ["MAX_HEAD", "HttpFront", "front_protocol", "key_of"]

MAX_HEAD = 16 * 1024
"""A request head longer than this (without its blank line yet) is left to uvicorn, which enforces its own limits."""

MAX_BUFFERED = 1024 * 1024
"""Bytes read ahead of the request being answered before the connection stops reading (a pipelining client)."""

_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found", 409: b"Conflict",
            500: b"Internal Server Error", 503: b"Service Unavailable"}
_PROTOBUF, _OCTETS, _JSON = b"application/x-protobuf", b"application/octet-stream", b"application/json"
_RPC = {"/v1/rpc/Get": "Get", "/v1/rpc/GetMany": "GetMany"}
_KV = "/v1/kv/"
_NOT_FOUND = json.dumps({"error": "key not found"}).encode()
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_log = logging.getLogger("towpath.kv")


def key_of(raw: str) -> bytes:
    """The key a `/v1/kv/<namespace>/<key>` path names: base64url, padded or not (`KvError` if it is not: the
    standard decoder would silently drop the characters outside the alphabet and look up another key)."""
    if _BASE64URL.fullmatch(raw) is None:
        raise KvError(f"the key must be base64url (A-Z a-z 0-9 - _, padding optional), got {raw!r}")
    try:
        return base64.urlsafe_b64decode(raw.rstrip("=") + "=" * (-len(raw.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise KvError(f"the key must be base64url, got {raw!r} (a length of 4n+1 characters is never one)") from None


def front_protocol(core: ServiceCore) -> type[HttpFront]:
    """The protocol class to give `uvicorn.Config(http=...)` for a service over `core` (its store must read
    asynchronously: `reads_async`)."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol  # httptools when installed, else h11

    return type("HttpFront", (HttpFront,), {"core": core, "fallback": AutoHTTPProtocol})


class HttpFront(asyncio.Protocol):
    """One HTTP/1.1 connection: point reads answered here, anything else handed to `fallback` (uvicorn's)."""

    core: ClassVar[ServiceCore]
    fallback: ClassVar[type[asyncio.Protocol]]

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        # uvicorn builds every connection's protocol with these four; the fallback is built with them too
        self._made = (config, server_state, app_state, _loop)
        self._connections: set[Any] = server_state.connections
        self._store: Any = self.core.store
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._busy = False  # a request is being answered
        self._keep_alive = True
        self._paused = False

    # -- asyncio.Protocol ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses
        self._connections.add(self)  # uvicorn's shutdown calls shutdown() on every connection it knows

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._busy:
            self._next()
        elif len(self._buffer) > MAX_BUFFERED and not self._paused:
            self._paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._keep_alive = False

    def shutdown(self) -> None:
        """uvicorn's graceful stop: close now if idle, else after the answer being written."""
        self._keep_alive = False
        if not self._busy and self.transport is not None:
            self.transport.close()

    # -- requests ------------------------------------------------------------------------------------

    def _next(self) -> None:
        """Take the next complete request in the buffer: answer it here, or hand the connection over."""
        if self._busy or self.transport is None or self.transport.is_closing():
            return
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD:
                self._hand_over()
            return
        lines = buffer[:end].decode("latin-1").split("\r\n")
        request = lines[0].split(" ")
        if len(request) != 3 or request[2] != "HTTP/1.1":
            return self._hand_over()
        verb, target = request[0], request[1]
        if "?" in target or "%" in target:
            return self._hand_over()
        if verb == "GET" and target.startswith(_KV):
            route = "kv"
            method = "Get"
        elif verb == "POST" and target in _RPC:
            route = "rpc"
            method = _RPC[target]
        else:
            return self._hand_over()
        token: str | None = None
        length = -1
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or name != name.strip():  # no colon, a folded line or space before the colon: uvicorn's
                return self._hand_over()
            name = name.lower()
            if name == "authorization":
                token = value.strip().removeprefix("Bearer ").strip()
            elif name == "content-length":
                if not value.strip().isdigit() or length >= 0:  # garbled or repeated: uvicorn refuses it
                    return self._hand_over()
                length = int(value)
            elif name == "connection":
                if "close" in value.lower():
                    self._keep_alive = False
            elif name in ("transfer-encoding", "expect", "upgrade"):
                return self._hand_over()
        length = max(length, 0)
        if len(buffer) < end + 4 + length:
            return  # the body is still arriving
        body = bytes(buffer[end + 4:end + 4 + length])
        del buffer[:end + 4 + length]
        self._busy = True
        start = time.perf_counter()
        if route == "rpc":
            asyncio.ensure_future(self._answered(method, start, self._rpc(method, body, token)))
            return
        try:  # the hot path: no coroutine, the read's reply future chained to the answer
            namespace, key = self._kv_target(target[len(_KV):], token)
            reply = self._store.submit_get(namespace, key)
        except Exception as exc:  # noqa: BLE001 - answered (and a bug logged) by _finish
            return self._finish("Get", start, exc)
        if reply is None:  # no connection on this loop yet: the coroutine path connects
            asyncio.ensure_future(self._answered("Get", start, self._kv_get(namespace, key)))
        else:
            reply.add_done_callback(lambda done: self._got(namespace, key, start, done))

    def _got(self, namespace: str, key: bytes, start: float, done: asyncio.Future[Any]) -> None:
        try:
            reply = done.result()
            if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
                asyncio.ensure_future(self._answered("Get", start, self._kv_get(namespace, key)))  # sends it whole
                return
            value = self._store.get_reply(namespace, reply)
        except Exception as exc:  # noqa: BLE001 - answered (and a bug logged) by _finish
            return self._finish("Get", start, exc)
        self._finish("Get", start, (200, _OCTETS, value) if value is not None else (404, _JSON, _NOT_FOUND))

    async def _answered(self, method: str, start: float, work: Any) -> None:
        """Await `work` (status, content type, body), then `_finish`."""
        try:
            answer = await work
        except Exception as exc:  # noqa: BLE001 - answered (and a bug logged) by _finish
            return self._finish(method, start, exc)
        self._finish(method, start, answer)

    def _finish(self, method: str, start: float, answer: tuple[int, bytes, bytes] | Exception) -> None:
        """Count the call, write its answer (or its error's), then take the next request."""
        code = "ok"
        if isinstance(answer, KvError):
            status, code = error_status(answer)
            kind = _JSON
            payload = json.dumps({"error": str(answer), "type": type(answer).__name__, "code": code}).encode()
        elif isinstance(answer, Exception):  # a bug must still answer (500, logged), not leave the client waiting
            _log.error("the HTTP %s of the KV service failed", method, exc_info=answer)
            status, code, kind, payload = 500, "INTERNAL", b"text/plain; charset=utf-8", b"Internal Server Error"
        else:
            status, kind, payload = answer
        self.core.record("http", method, code, time.perf_counter() - start)
        self._respond(status, kind, payload)

    def _kv_target(self, path: str, token: str | None) -> tuple[str, bytes]:
        """(namespace, key) of `/v1/kv/<path>`, once the token is checked."""
        self.core.authorize("read", token)
        namespace, sep, raw = path.partition("/")
        if not sep or not namespace or not raw or "/" in raw:
            raise KvError(f"expected /v1/kv/<namespace>/<key as base64url>, got {_KV}{path}")
        return namespace, key_of(raw)

    async def _kv_get(self, namespace: str, key: bytes) -> tuple[int, bytes, bytes]:
        value = await self._store.get_async(namespace, key)
        if value is None:
            return 404, _JSON, _NOT_FOUND
        return 200, _OCTETS, value

    async def _rpc(self, method: str, body: bytes, token: str | None) -> tuple[int, bytes, bytes]:
        self.core.authorize("read", token)
        message_class = pb.GetRequest if method == "Get" else pb.GetManyRequest
        try:
            message: Any = message_class.FromString(body)
        except DecodeError as exc:  # the body is the caller's mistake
            raise KvError(f"{method}: the body is not a serialised {message_class.__name__}: {exc}") from None
        if method == "Get":
            answer: Any = get_response(await self._store.get_async(message.namespace, message.key))
        else:
            answer = get_many_response(await self._store.get_many_async(message.namespace, list(message.keys)))
        return 200, _PROTOBUF, answer.SerializeToString()

    def _respond(self, status: int, kind: bytes, payload: bytes) -> None:
        transport = self.transport
        self._busy = False
        if transport is None or transport.is_closing():
            return
        close = b"" if self._keep_alive else b"connection: close\r\n"
        transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n%s" % (
            status, _REASONS.get(status, b""), kind, len(payload), close, payload))
        if not self._keep_alive:
            transport.close()
            return
        if self._paused and len(self._buffer) <= MAX_BUFFERED:
            self._paused = False
            transport.resume_reading()
        if self._buffer:  # a pipelined request: on the next turn of the loop (an answer given at once must not
            asyncio.get_running_loop().call_soon(self._next)  # recurse through a buffer of bad requests)

    def _hand_over(self) -> None:
        """From now on uvicorn's protocol serves this connection, starting with what is buffered."""
        transport = self.transport
        assert transport is not None
        config, server_state, app_state, loop = self._made
        inner = self.fallback(config=config, server_state=server_state, app_state=app_state,  # type: ignore[call-arg]
                              _loop=loop)
        self._connections.discard(self)
        transport.set_protocol(inner)
        inner.connection_made(transport)
        if self._paused:
            self._paused = False
            transport.resume_reading()
        data, self._buffer = bytes(self._buffer), bytearray()
        inner.data_received(data)
