"""The KV service's Redis reads: one pipelined RESP connection per event loop, replies parsed by hiredis.

Why not `redis.asyncio`: a Get through it cost ~110 µs of the service's CPU
(connection-pool checkout, a command object, its parser's Python layers), a
fifth of everything a Get costs, on the path 2,000 reads a second take. Here a
read is one `EVALSHA` packed into bytes, written on one connection shared by
every read in flight (Redis answers in order, so replies match a FIFO of
futures), and its reply parsed in C: ~18 µs. Only the read script runs here;
everything else keeps redis-py.

A lost connection fails every read in flight with `KvUnavailableError` and the
next read reconnects; a read with no reply after `timeout` seconds closes the
connection the same way (Redis hung or gone). A script flushed from Redis
(`NOSCRIPT`, after a restart or `SCRIPT FLUSH`) is sent whole once, then by
its SHA again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any, cast

import hiredis

from towpath.kv.errors import KvError, KvUnavailableError

__all__ = ["RespEndpoint", "ScriptReader"]


def _command(*args: bytes | str | int) -> bytes:
    """One RESP command (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class RespEndpoint:
    """Where and as whom to connect: `host:port` or a unix socket `path`, then `AUTH` and `SELECT`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 6379, path: str | None = None, db: int = 0,
                 username: str | None = None, password: str | None = None, timeout: float = 10.0) -> None:
        self.host, self.port, self.path, self.db = host, port, path, db
        self.username, self.password, self.timeout = username, password, timeout

    @classmethod
    def from_parsed(cls, parsed: dict[str, Any], password: str | None, timeout: float) -> RespEndpoint:
        """From `redis.connection.parse_url`'s dict (plain TCP or unix socket)."""
        return cls(host=parsed.get("host", "127.0.0.1"), port=int(parsed.get("port", 6379)), path=parsed.get("path"),
                   db=int(parsed.get("db", 0)), username=parsed.get("username"),
                   password=password or parsed.get("password"), timeout=timeout)

    def handshake(self) -> list[bytes]:
        """The commands a new connection sends first (their replies must be OK)."""
        out = []
        if self.password is not None:
            out.append(_command("AUTH", *((self.username,) if self.username else ()), self.password))
        if self.db:
            out.append(_command("SELECT", self.db))
        return out


class _Connection(asyncio.Protocol):
    """One connection: commands in, replies matched to the futures waiting for them, in order."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.waiting.popleft()
            if not future.done():  # a timed-out read's future is already failed
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        why = f": {exc}" if exc is not None else ""
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(KvUnavailableError(f"{self.label}: Redis connection lost{why}"))

    def send(self, payload: bytes) -> asyncio.Future[Any]:
        assert self.transport is not None
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.transport.write(payload)
        return future

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class ScriptReader:
    """Runs one Lua script on Redis from one event loop: `await reader(keys, args)` is its reply."""

    def __init__(self, endpoint: RespEndpoint, script: str, label: str) -> None:
        self.endpoint, self.script, self.label = endpoint, script, label
        self.sha = hashlib.sha1(script.encode()).hexdigest()
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None

    async def __call__(self, keys: list[str], args: list[bytes | str | int]) -> Any:
        connection = self._connection if self._connection is not None and not self._connection.lost \
            else await self._connect()
        reply = await self._timed(connection, connection.send(_command("EVALSHA", self.sha, len(keys), *keys, *args)))
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await self._timed(connection,
                                      connection.send(_command("EVAL", self.script, len(keys), *keys, *args)))
        if isinstance(reply, hiredis.ReplyError):
            raise KvError(f"{self.label}: Redis error: {reply}")
        return reply

    def submit(self, keys: list[str], args: list[bytes | str | int]) -> asyncio.Future[Any] | None:
        """The script's raw reply as a future, sent at once on the open connection without a coroutine (no task
        per read: the HTTP point reads), timed out as `__call__` is; None when no connection is open (then
        `await reader(...)`, which connects). The reply may be a `hiredis.ReplyError` (`NOSCRIPT` included:
        the caller then awaits `reader(...)`, which sends the script whole)."""
        connection = self._connection
        if connection is None or connection.lost:
            return None
        future = connection.send(_command("EVALSHA", self.sha, len(keys), *keys, *args))
        timer = future.get_loop().call_later(self.endpoint.timeout, self._expire, connection, future)
        future.add_done_callback(lambda _: timer.cancel())
        return future

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def _timed(self, connection: _Connection, future: asyncio.Future[Any]) -> Any:
        """The reply, or the connection closed (every read on it failing) when none comes within the timeout."""
        timer = asyncio.get_running_loop().call_later(self.endpoint.timeout, self._expire, connection, future)
        try:
            return await future
        finally:
            timer.cancel()

    def _expire(self, connection: _Connection, future: asyncio.Future[Any]) -> None:
        if not future.done():
            future.set_exception(KvUnavailableError(
                f"{self.label}: Redis did not answer within {self.endpoint.timeout:g} s"))
            connection.close()

    async def _connect(self) -> _Connection:
        """The connection, opened once however many reads ask for it at the same moment."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        try:
            connection = await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None
        self._connection = connection
        return connection

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        endpoint = self.endpoint
        try:
            async with asyncio.timeout(endpoint.timeout):
                if endpoint.path is not None:
                    _, connection = await loop.create_unix_connection(lambda: _Connection(self.label), endpoint.path)
                else:
                    _, connection = await loop.create_connection(lambda: _Connection(self.label), endpoint.host,
                                                                 endpoint.port)
                for command in endpoint.handshake():
                    reply = await connection.send(command)
                    if isinstance(reply, hiredis.ReplyError):
                        connection.close()
                        raise KvError(f"{self.label}: Redis refused the connection: {reply}")
        except (OSError, TimeoutError) as exc:
            raise KvUnavailableError(f"{self.label}: Redis unavailable: {exc}") from None
        return connection
