"""The service's Redis read path (`kv/_aresp.py`): one pipelined hiredis connection per event loop, against a
real `redis-server` — replies matched to their reads with hundreds in flight, an alias swap seen by the next
read, a flushed script, a server that hangs, dies and comes back, a password and a database number."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator

import pyarrow as pa
import pytest
import redis

import services
from services import RedisServer
from services import redis_server as start_redis
from towpath.kv import Client, open_store
from towpath.kv.errors import KvError, KvUnavailableError, NamespaceNotFoundError
from towpath.kv.redis import RedisStore
from towpath.kv.service import KvService, ServiceConfig


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of this test's own: these tests stop, kill and reconfigure it."""
    with start_redis() as server:
        yield server


def _loaded(url: str, versions: int = 2, rows: int = 500) -> RedisStore:
    store = open_store(url)
    assert isinstance(store, RedisStore)
    for v in range(1, versions + 1):
        store.create_namespace(f"n{v}")
        store.put_batch(f"n{v}", [b"k%d" % i for i in range(rows)], [b"v%d:%d" % (v, i) for i in range(rows)])
    store.set_alias("a", "n1")
    return store


def test_many_reads_in_flight_each_get_their_own_reply(redis_server: RedisServer) -> None:
    store = _loaded(f"{redis_server.url}?prefix=ar1&buckets=16", versions=1)

    async def run() -> None:
        keys = [b"k%d" % (i % 600) for i in range(2000)]  # 100 of 600 keys missing: nil replies interleaved
        values = await asyncio.gather(*(store.get_async("a", k) for k in keys))
        assert values == [b"v1:%d" % (i % 600) if i % 600 < 500 else None for i in range(2000)]
        many = await asyncio.gather(*(store.get_many_async("n1", [b"k1", b"k999", b"k7"]) for _ in range(300)))
        assert all(m == [b"v1:1", None, b"v1:7"] for m in many)

    asyncio.run(run())
    store.close()


def test_an_alias_swap_is_seen_by_the_next_read(redis_server: RedisServer) -> None:
    store = _loaded(f"{redis_server.url}?prefix=ar2&buckets=8")

    async def run() -> None:
        for round_ in range(30):
            version = 1 + round_ % 2
            store.set_alias("a", f"n{version}")  # through the sync client: another connection
            got = await asyncio.gather(*(store.get_async("a", b"k%d" % i) for i in range(50)))
            assert got == [b"v%d:%d" % (version, i) for i in range(50)]
        with pytest.raises(NamespaceNotFoundError):
            await store.get_async("nope", b"k1")

    asyncio.run(run())
    store.close()


def test_a_flushed_script_is_sent_again(redis_server: RedisServer) -> None:
    store = _loaded(f"{redis_server.url}?prefix=ar3&buckets=8", versions=1)

    async def run() -> None:
        assert await store.get_async("a", b"k3") == b"v1:3"
        redis.Redis.from_url(redis_server.url).script_flush()
        assert await asyncio.gather(*(store.get_async("a", b"k%d" % i) for i in range(20))) == \
            [b"v1:%d" % i for i in range(20)]

    asyncio.run(run())
    store.close()


def test_a_hung_server_times_out_and_a_dead_one_is_unavailable_until_it_is_back(own_server: RedisServer) -> None:
    store = _loaded(f"{own_server.url}?prefix=ar4&buckets=8&timeout=0.5", versions=1)

    async def run() -> None:
        assert await store.get_async("a", b"k1") == b"v1:1"
        os.kill(own_server.pid, signal.SIGSTOP)  # hung: connected, never answers
        try:
            start = time.monotonic()
            results = await asyncio.gather(*(store.get_async("a", b"k1") for _ in range(5)), return_exceptions=True)
            assert all(isinstance(r, KvUnavailableError) for r in results), results
            assert 0.4 < time.monotonic() - start < 3
        finally:
            os.kill(own_server.pid, signal.SIGCONT)
        assert await store.get_async("a", b"k2") == b"v1:2"  # a new connection

    asyncio.run(run())
    store.close()


def test_a_server_gone_away_and_back() -> None:
    with start_redis() as server:
        store = _loaded(f"{server.url}?prefix=ar5&buckets=8&timeout=2", versions=1)
        port = server.port

        async def first() -> None:
            assert await store.get_async("a", b"k1") == b"v1:1"

        loop = asyncio.new_event_loop()
        loop.run_until_complete(first())
    # the server is gone (its data with it)
    with pytest.raises(KvUnavailableError, match="Redis"):
        loop.run_until_complete(store.get_async("a", b"k1"))
    with start_redis(port) as again:
        fresh = _loaded(f"{again.url}?prefix=ar5&buckets=8", versions=1)
        fresh.close()
        assert loop.run_until_complete(store.get_async("a", b"k4")) == b"v1:4"  # reconnected
    loop.close()
    store.close()


def test_password_and_database(own_server: RedisServer) -> None:
    admin = redis.Redis.from_url(own_server.url)
    admin.config_set("requirepass", "s3cret")
    url = f"redis://:s3cret@127.0.0.1:{own_server.port}/3?prefix=ar6&buckets=4"
    store = _loaded(url, versions=1)

    async def run() -> None:
        assert await store.get_async("a", b"k9") == b"v1:9"

    asyncio.run(run())
    assert redis.Redis(port=own_server.port, password="s3cret", db=3).exists("ar6:aliases")
    assert not redis.Redis(port=own_server.port, password="s3cret", db=0).exists("ar6:aliases")
    wrong = open_store(f"redis://:nope@127.0.0.1:{own_server.port}/3?prefix=ar6")
    assert isinstance(wrong, RedisStore)
    with pytest.raises(KvError, match="WRONGPASS"):
        asyncio.run(wrong.get_async("a", b"k9"))
    store.close()


def test_through_the_service_gets_see_each_swap_and_stay_right_while_a_stream_writes(
        redis_server: RedisServer) -> None:
    config = ServiceConfig(engine=f"{redis_server.url}?prefix=ar7&buckets=16", port=0,
                           grpc_port=services.free_port(), write_processes=1)
    _loaded(config.engine, rows=200).close()
    keys = pa.array([b"w%06d" % i for i in range(60_000)], pa.binary())
    with KvService(config) as service, Client(f"grpc://127.0.0.1:{service.grpc_port}") as client:
        client.create_namespace("bulk_1")
        written: list[int] = []
        stream = threading.Thread(target=lambda: written.append(client.put_batches(
            "bulk_1", ((keys.slice(s, 5000), keys.slice(s, 5000)) for s in range(0, 60_000, 5000)))))
        stream.start()
        swaps = 0
        while stream.is_alive() or swaps < 20:
            version = 1 + swaps % 2
            client.set_alias("a", f"n{version}")
            assert client.get("a", b"k%d" % (swaps % 200)) == b"v%d:%d" % (version, swaps % 200)
            assert client.get_many("a", [b"k1", b"k404", b"k2"]) == [b"v%d:1" % version, None, b"v%d:2" % version]
            swaps += 1
        stream.join()
        assert written == [60_000] and client.get("bulk_1", b"w012345") == b"w012345"
