"""Redis and Redis Cluster engines: a namespace is a fixed set of hashes (buckets), an alias one hash field.

Layout under the store's `prefix` (default `towpath`)::

    <prefix>:namespaces         hash  namespace -> bucket count
    <prefix>:aliases            hash  alias -> namespace (HSET: one atomic step)
    <prefix>:d:{<ns>:<b>}       hash  key -> value, for the keys whose CRC-32 % buckets == b

Bucketed hashes are what make a version cheap both ways: a batch is one `HSET`
per bucket, pipelined (packed from Arrow buffers, see `_resp.py`), and dropping
a 10M-key version is `UNLINK` of its buckets, which Redis frees in a
background thread, so readers do not stall. The `{<ns>:<b>}` hash tag spreads a
namespace's buckets over a cluster's slots while keeping each bucket whole on
one node.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import hiredis
import numpy as np
import redis
import redis.cluster
from redis.connection import SSLConnection, parse_url

from towpath.kv._aresp import RespEndpoint, ScriptReader
from towpath.kv._resp import bucket_of, buckets_of, packed_batch
from towpath.kv.engines import mask_url, url_options
from towpath.kv.errors import (
    KvError,
    KvUnavailableError,
    KvUrlError,
    NamespaceExistsError,
    NamespaceInUseError,
    NamespaceNotFoundError,
)
from towpath.kv.store import (
    DEFAULT_SCAN_LIMIT,
    Binaries,
    Cursor,
    StoreBase,
    as_binary_array,
    as_bytes_list,
    check_batch,
    check_name,
)

__all__ = ["RedisClusterStore", "RedisStore", "open_redis", "open_redis_cluster"]

DEFAULT_BUCKETS = 256
"""Buckets of a new namespace: enough to spread a version over a cluster's nodes and keep each hash
small enough to write in one pipelined `HSET` per batch. Fixed per namespace when it is created."""

_OPTIONS: dict[str, type] = {"prefix": str, "buckets": int, "timeout": float}


def open_redis(url: str, *, token: str | None = None, root: Path | None = None) -> RedisStore:
    """`redis://[user:password@]host:port/db?prefix=towpath&buckets=256&timeout=10` (`rediss://` for TLS)."""
    del root
    base, options = _split(url)
    connect: dict[str, Any] = {"password": token or urlsplit(base).password,
                               "socket_timeout": float(options.get("timeout", 10))}  # type: ignore[arg-type]
    try:
        client = redis.Redis.from_url(base, **connect)
    except ValueError as exc:
        raise KvUrlError(f"KV store URL {mask_url(url)!r}: {exc}") from None

    def asynchronous() -> Any:
        """The service's reader of the read script on the running loop: hiredis over one pipelined connection
        (`_aresp.py`), or `redis.asyncio` for TLS."""
        parsed: dict[str, Any] = parse_url(base)  # type: ignore[no-untyped-call]
        if parsed.get("connection_class") is SSLConnection:
            import redis.asyncio

            script = redis.asyncio.Redis.from_url(base, **connect).register_script(_READ_SCRIPT)
            return lambda keys, args: script(keys=keys, args=args)
        return ScriptReader(RespEndpoint.from_parsed(parsed, connect["password"], connect["socket_timeout"]),
                            _READ_SCRIPT, mask_url(url))

    return RedisStore(client, mask_url(url), asynchronous=asynchronous, **_store_options(options))


def open_redis_cluster(url: str, *, token: str | None = None, root: Path | None = None) -> RedisClusterStore:
    """`redis+cluster://host:port?prefix=...&buckets=...`: any node of the cluster; the others are discovered."""
    del root
    base, options = _split(url)
    parts = urlsplit(base)
    if not parts.hostname or not parts.port:
        raise KvUrlError(f"KV store URL {mask_url(url)!r}: expected redis+cluster://host:port of one node")
    try:
        client = redis.cluster.RedisCluster(
            host=parts.hostname, port=parts.port, password=token or parts.password,
            socket_timeout=float(options.get("timeout", 10)),  # type: ignore[arg-type]
        )
    except redis.RedisError as exc:
        raise KvUnavailableError(f"{mask_url(url)}: cannot reach the Redis Cluster: {exc}") from None
    return RedisClusterStore(client, mask_url(url), **_store_options(options))


def _split(url: str) -> tuple[str, dict[str, object]]:
    options = url_options(url, _OPTIONS)
    parts = urlsplit(url)
    scheme = "redis" if parts.scheme == "redis+cluster" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, "", "")), options


def _store_options(options: dict[str, object]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "prefix" in options:
        out["prefix"] = str(options["prefix"])
    if "buckets" in options:
        out["buckets"] = int(options["buckets"])  # type: ignore[call-overload]
    return out


@contextlib.contextmanager
def _mapped(url: str) -> Iterator[None]:
    """Redis's exceptions as towpath's: unreachable is `KvUnavailableError` (transient), the rest `KvError`."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise KvUnavailableError(f"{url}: Redis unavailable: {exc}") from None
    except redis.RedisError as exc:
        raise KvError(f"{url}: Redis error: {exc}") from None


_READ_SCRIPT = """
local ns = redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[1]
local buckets = redis.call('HGET', KEYS[2], ns)
if not buckets then return {0} end
buckets = tonumber(buckets)
local out = {1}
for i = 3, #ARGV, 2 do
  local key = ARGV[2] .. ':d:{' .. ns .. ':' .. (tonumber(ARGV[i + 1]) % buckets) .. '}'
  out[#out + 1] = redis.call('HGET', key, ARGV[i])
end
return out
"""
"""Alias, bucket count and values in one server-side step: one round trip, and atomic, so a read can
never mix versions. Keys are named inside the script, which only a single server allows."""


class RedisStore(StoreBase):
    """A `KvStore` on one Redis server (or, through `RedisClusterStore`, a cluster)."""

    SCRIPTED_READS: bool = True
    """Reads resolve the alias and fetch in one Lua script (`_READ_SCRIPT`); a cluster cannot (keys on many nodes)."""

    def __init__(self, client: Any, url: str, *, prefix: str = "towpath", buckets: int = DEFAULT_BUCKETS,
                 asynchronous: Callable[[], Any] | None = None) -> None:
        if not prefix or any(c in prefix for c in "{}"):
            raise KvUrlError(f"{url}: prefix must be non-empty and without braces, got {prefix!r}")
        if not 1 <= buckets <= 65536:
            raise KvUrlError(f"{url}: buckets must be in 1..65536, got {buckets}")
        self.client = client
        self.url = url
        self.prefix = prefix
        self.new_buckets = buckets
        self._namespaces_key = f"{prefix}:namespaces"
        self._aliases_key = f"{prefix}:aliases"
        self._buckets: dict[str, int] = {}
        """Bucket count of each namespace seen: fixed when a namespace is created, so safe to keep."""
        self._lock = threading.Lock()
        self._read_script: Any = None
        self._names: dict[str, list[bytes]] = {}
        self._asynchronous = asynchronous
        """Makes a runner of the read script on the running loop, `await run(keys, args)` (None: no `get_async`)."""
        self._async: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        """Each event loop's script runner: an asyncio connection belongs to one loop, and the service reads on
        two (gRPC's and the HTTP server's)."""
        self._slots: dict[bytes, int] = {}

    # -- namespaces ----------------------------------------------------------------------------------

    def create_namespace(self, ns: str) -> None:
        check_name(ns)
        with _mapped(self.url):
            if not self.client.hsetnx(self._namespaces_key, ns, self.new_buckets):
                raise NamespaceExistsError(f"{self.url}: namespace '{ns}' already exists")
        self._buckets[ns] = self.new_buckets

    def drop_namespace(self, ns: str) -> None:
        check_name(ns)
        users = [a for a, target in self.aliases().items() if target == ns]
        if users:
            raise NamespaceInUseError(f"{self.url}: namespace '{ns}' is the target of alias(es) {', '.join(users)}")
        with _mapped(self.url):
            raw = self.client.hget(self._namespaces_key, ns)
            if raw is None:
                return
            buckets = int(raw)
            self.client.hdel(self._namespaces_key, ns)  # readers see it gone before its data goes
            self._buckets.pop(ns, None)
            keys = self._bucket_keys(ns, buckets)
            for start in range(0, len(keys), 512):  # UNLINK frees each hash in Redis's background thread
                pipe = self.client.pipeline(transaction=False)
                for key in keys[start:start + 512]:
                    pipe.unlink(key)
                pipe.execute()

    def namespaces(self) -> list[str]:
        with _mapped(self.url):
            return sorted(k.decode() for k in self.client.hkeys(self._namespaces_key))

    def count(self, ns: str) -> int:
        ns, buckets = self._resolve(ns)
        with _mapped(self.url):
            pipe = self.client.pipeline(transaction=False)
            for key in self._bucket_keys(ns, buckets):
                pipe.hlen(key)
            return int(sum(pipe.execute()))

    # -- writes --------------------------------------------------------------------------------------

    def put_batch(self, ns: str, keys: Binaries, values: Binaries) -> int:
        key_array, value_array = as_binary_array(keys, "keys"), as_binary_array(values, "values")
        check_batch(key_array, value_array)
        buckets = self._namespace_buckets(ns)
        if not len(key_array):
            return 0
        names = self._bucket_names(ns, buckets)
        packed = packed_batch(key_array, value_array, buckets_of(key_array, buckets), names)
        with _mapped(self.url):
            self._send_packed(names, *packed)
        return len(key_array)

    def delete_batch(self, ns: str, keys: Binaries) -> int:
        key_list = as_bytes_list(keys, "keys")
        buckets = self._namespace_buckets(ns)
        groups = self._group(key_list, buckets)
        with _mapped(self.url):
            pipe = self.client.pipeline(transaction=False)
            for bucket, members in groups.items():
                pipe.hdel(self._bucket_key(ns, bucket), *members)
            return int(sum(pipe.execute()))

    # -- reads ---------------------------------------------------------------------------------------

    def get(self, ns_or_alias: str, key: bytes) -> bytes | None:
        if self.SCRIPTED_READS:
            return self._scripted_get(ns_or_alias, [key])[0]
        ns, buckets = self._resolve(ns_or_alias)
        with _mapped(self.url):
            value: bytes | None = self.client.hget(self._bucket_key(ns, bucket_of(key, buckets)), key)
            return value

    def get_many(self, ns_or_alias: str, keys: Binaries) -> list[bytes | None]:
        key_list = as_bytes_list(keys, "keys")
        if self.SCRIPTED_READS and 0 < len(key_list) <= 1000:
            return self._scripted_get(ns_or_alias, key_list)
        ns, buckets = self._resolve(ns_or_alias)
        if not key_list:
            return []
        ids = buckets_of(key_list, buckets)
        order = np.argsort(ids, kind="stable")
        present, starts = np.unique(ids[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        with _mapped(self.url):
            pipe = self.client.pipeline(transaction=False)
            for bucket, start, end in zip(present.tolist(), starts.tolist(), ends.tolist()):
                pipe.hmget(self._bucket_key(ns, bucket), [key_list[i] for i in order[start:end].tolist()])
            replies = pipe.execute()
        out: list[bytes | None] = [None] * len(key_list)
        positions = iter(order.tolist())
        for reply in replies:
            for value in reply:
                out[next(positions)] = value
        return out

    @property
    def reads_async(self) -> bool:
        """Whether `get_async` / `get_many_async` exist here (a standalone server opened from a URL)."""
        return self.SCRIPTED_READS and self._asynchronous is not None

    async def get_async(self, ns_or_alias: str, key: bytes) -> bytes | None:
        """`get` on the running event loop: awaits Redis instead of blocking the loop for the round trip.

        The KV service's gRPC reads: with a blocking client, the loop serves one
        read per Redis round trip, and a busy machine makes that round trip long.
        """
        return (await self._scripted_get_async(ns_or_alias, [key]))[0]

    async def get_many_async(self, ns_or_alias: str, keys: Binaries) -> list[bytes | None]:
        """`get_many` on the running event loop (up to 1000 keys in one script call, else `get_many`)."""
        key_list = as_bytes_list(keys, "keys")
        if not 0 < len(key_list) <= 1000:
            return self.get_many(ns_or_alias, key_list)
        return await self._scripted_get_async(ns_or_alias, key_list)

    def submit_get(self, ns_or_alias: str, key: bytes) -> Any:
        """`get_async` without a coroutine, for a caller on the running loop that chains callbacks (the HTTP
        point reads): the read script's raw reply as a future (`get_reply` turns it into the value), or None
        when this loop has no open connection yet or reads through `redis.asyncio` (then `get_async`)."""
        import asyncio

        script = self._async.get(asyncio.get_running_loop())
        if not isinstance(script, ScriptReader):
            return None
        return script.submit([self._aliases_key, self._namespaces_key], self._script_args(ns_or_alias, [key]))

    def get_reply(self, ns_or_alias: str, reply: Any) -> bytes | None:
        """The value in the reply of a `submit_get` (`KvError` for a Redis error, `NamespaceNotFoundError`)."""
        if isinstance(reply, hiredis.ReplyError):
            raise KvError(f"{self.url}: Redis error: {reply}")
        value: bytes | None = self._script_reply(ns_or_alias, reply)[0]
        return value

    def scan(self, ns: str, cursor: Cursor | None = None, limit: int = DEFAULT_SCAN_LIMIT) -> tuple[
        list[tuple[bytes, bytes]], Cursor | None
    ]:
        if limit < 1:
            raise KvError(f"scan limit must be at least 1, got {limit}")
        ns, buckets = self._resolve(ns)
        bucket, position = _decode_cursor(cursor, buckets)
        rows: list[tuple[bytes, bytes]] = []
        with _mapped(self.url):
            while bucket < buckets and len(rows) < limit:
                position, found = self.client.hscan(self._bucket_key(ns, bucket), position, count=limit - len(rows))
                rows.extend(found.items())
                if position == 0:
                    bucket += 1
        return rows, (f"{bucket}:{position}" if bucket < buckets else None)

    # -- aliases -------------------------------------------------------------------------------------

    def set_alias(self, alias: str, ns: str) -> None:
        check_name(alias, "alias")
        check_name(ns)
        with _mapped(self.url):
            known = self.client.hexists(self._namespaces_key, alias), self.client.hexists(self._namespaces_key, ns)
            if known[0]:
                raise KvError(f"{self.url}: '{alias}' is a namespace; an alias needs a name of its own")
            if not known[1]:
                raise NamespaceNotFoundError(ns, self.url, self.known_names())
            self.client.hset(self._aliases_key, alias, ns)

    def alias(self, alias: str) -> str | None:
        with _mapped(self.url):
            raw = self.client.hget(self._aliases_key, alias)
        return None if raw is None else raw.decode()

    def aliases(self) -> dict[str, str]:
        with _mapped(self.url):
            return {k.decode(): v.decode() for k, v in self.client.hgetall(self._aliases_key).items()}

    def close(self) -> None:
        self.client.close()
        self._async.clear()  # their connections close with their event loops

    # -- internals -----------------------------------------------------------------------------------

    def _script_args(self, name: str, keys: list[bytes]) -> list[bytes | str | int]:
        args: list[bytes | str | int] = [name, self.prefix]
        for key in keys:
            args += [key, zlib.crc32(key)]
        return args

    def _script_reply(self, name: str, reply: list[Any]) -> list[bytes | None]:
        if reply[0] == 0:
            raise NamespaceNotFoundError(name, self.url, self.known_names())
        return list(reply[1:])  # a missing key is nil, an empty value b""

    def _scripted_get(self, name: str, keys: list[bytes]) -> list[bytes | None]:
        with _mapped(self.url):
            if self._read_script is None:
                self._read_script = self.client.register_script(_READ_SCRIPT)
            reply = self._read_script(keys=[self._aliases_key, self._namespaces_key], args=self._script_args(name, keys))
        return self._script_reply(name, reply)

    async def _scripted_get_async(self, name: str, keys: list[bytes]) -> list[bytes | None]:
        import asyncio

        assert self._asynchronous is not None
        loop = asyncio.get_running_loop()
        script = self._async.get(loop)
        if script is None:
            script = self._async[loop] = self._asynchronous()
        with _mapped(self.url):
            reply = await script([self._aliases_key, self._namespaces_key], self._script_args(name, keys))
        return self._script_reply(name, reply)

    def _bucket_key(self, ns: str, bucket: int) -> str:
        return f"{self.prefix}:d:{{{ns}:{bucket}}}"

    def _bucket_keys(self, ns: str, buckets: int) -> list[str]:
        return [self._bucket_key(ns, b) for b in range(buckets)]

    def _namespace_buckets(self, ns: str) -> int:
        check_name(ns)
        known = self._buckets.get(ns)
        if known is not None:
            return known
        with _mapped(self.url):
            raw = self.client.hget(self._namespaces_key, ns)
        if raw is None:
            raise NamespaceNotFoundError(ns, self.url, self.known_names())
        self._buckets[ns] = int(raw)
        return int(raw)

    def _resolve(self, name: str) -> tuple[str, int]:
        """(namespace, its bucket count) of an alias or namespace: one round trip to read the alias."""
        with _mapped(self.url):
            target = self.client.hget(self._aliases_key, name)
        ns = name if target is None else target.decode()
        return ns, self._namespace_buckets(ns)

    @staticmethod
    def _group(keys: list[bytes], buckets: int) -> dict[int, list[bytes]]:
        groups: dict[int, list[bytes]] = defaultdict(list)
        for key, bucket in zip(keys, buckets_of(keys, buckets).tolist()):
            groups[bucket].append(key)
        return groups

    def _bucket_names(self, ns: str, buckets: int) -> list[bytes]:
        """Every bucket's hash key, encoded (kept per namespace: a batch names up to all of them)."""
        names = self._names.get(ns)
        if names is None or len(names) != buckets:
            names = self._names[ns] = [k.encode() for k in self._bucket_keys(ns, buckets)]
        return names

    def _send_packed(self, names: list[bytes], present: list[int], payload: bytearray, bounds: list[int]) -> None:
        """Send a batch's packed `HSET`s (command i writes bucket `present[i]`, bytes `bounds[i]:bounds[i+1]`
        of `payload`) and read every reply: one round trip."""
        del names
        _pipelined(self.client.connection_pool, payload, len(present), self.url)


def _pipelined(pool: Any, payload: bytes | bytearray | memoryview, commands: int, url: str) -> None:
    """Write `payload` (`commands` packed RESP commands) on one pooled connection, then read one reply per command."""
    conn = pool.get_connection()
    try:
        conn.send_packed_command([payload], check_health=False)
        errors = []
        for _ in range(commands):
            try:
                conn.read_response()
            except redis.ResponseError as exc:
                errors.append(exc)
    except BaseException:
        conn.disconnect()  # a half-read pipeline must never be reused
        raise
    finally:
        pool.release(conn)
    if errors:
        raise redis.ResponseError(f"{len(errors)} of {commands} writes failed, first: {errors[0]}")


class RedisClusterStore(RedisStore):
    """A `KvStore` on a Redis Cluster: each bucket's `HSET` goes straight to the node owning its slot."""

    SCRIPTED_READS = False

    def _slot(self, name: bytes) -> int:
        """The cluster slot of a bucket's hash (CRC-16 of its `{ns:b}` tag), computed once per bucket name."""
        slot = self._slots.get(name)
        if slot is None:
            slot = self._slots[name] = int(self.client.keyslot(name))
        return slot

    def _send_packed(self, names: list[bytes], present: list[int], payload: bytearray, bounds: list[int]) -> None:
        view = memoryview(payload)
        for attempt in range(3):
            by_node: dict[str, list[memoryview]] = defaultdict(list)
            nodes: dict[str, Any] = {}
            for i, bucket in enumerate(present):
                node = self.client.nodes_manager.get_node_from_slot(self._slot(names[bucket]))
                by_node[node.name].append(view[bounds[i]:bounds[i + 1]])
                nodes[node.name] = node
            try:
                for name, commands in by_node.items():
                    pool = self.client.get_redis_connection(nodes[name]).connection_pool
                    _pipelined(pool, b"".join(commands), len(commands), self.url)
                return
            except redis.ResponseError as exc:
                # a slot moved (resharding): refresh the slot map and write the batch again (HSET is idempotent)
                if not str(exc).split(": ", 1)[-1].startswith(("MOVED", "ASK")) or attempt == 2:
                    raise
                self.client.nodes_manager.initialize()


def _decode_cursor(cursor: Cursor | None, buckets: int) -> tuple[int, int]:
    if cursor is None:
        return 0, 0
    try:
        bucket, _, position = cursor.partition(":")
        out = int(bucket), int(position)
    except ValueError:
        out = (-1, -1)
    if not 0 <= out[0] < buckets or out[1] < 0:
        raise KvError(f"invalid scan cursor {cursor!r}: pass the next_cursor a previous scan returned")
    return out
