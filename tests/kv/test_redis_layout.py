"""What the Redis engines promise beyond the contract: a version spreads over a cluster's nodes
(hash-tagged buckets), and dropping it leaves no key behind."""

from __future__ import annotations

import redis

import services
from towpath.kv import open_store


def test_a_namespace_spreads_over_every_cluster_node_and_drops_clean(redis_cluster: services.RedisCluster) -> None:
    with open_store(f"{redis_cluster.url}?prefix=layout&buckets=64") as store:
        store.create_namespace("spread_1")
        store.put_batch("spread_1", [b"k%05d" % i for i in range(3000)], [b"v"] * 3000)
        nodes = [redis.Redis(port=port) for port in redis_cluster.ports]
        per_node = [len(node.keys("layout:d:{spread_1:*")) for node in nodes]
        assert all(n > 0 for n in per_node) and sum(per_node) == 64  # every bucket on one node, all nodes used
        store.drop_namespace("spread_1")
        assert [len(node.keys("layout:d:{spread_1:*")) for node in nodes] == [0, 0, 0]
        for node in nodes:
            node.close()


def test_drop_unlinks_every_bucket_of_a_standalone_namespace(redis_server: services.RedisServer) -> None:
    with open_store(f"{redis_server.url}?prefix=layout2&buckets=16") as store:
        store.create_namespace("gone_1")
        store.put_batch("gone_1", [b"k%03d" % i for i in range(500)], [b"v"] * 500)
        raw = redis.Redis(port=redis_server.port)
        assert len(raw.keys("layout2:d:*")) == 16
        store.drop_namespace("gone_1")
        assert raw.keys("layout2:d:*") == [] and store.namespaces() == []
        raw.close()


def test_vectorised_crc32_is_zlibs_for_every_key_length_and_slice() -> None:
    """The bucket of a key must be the same in every client: `crc32_of` over a column equals `zlib.crc32` per key."""
    import random
    import zlib

    import numpy as np
    import pyarrow as pa

    from towpath.kv._resp import buckets_of, crc32_of

    rng = random.Random(7)
    keys = [b"", b"\x00", *(rng.randbytes(rng.randint(0, 64)) for _ in range(3000))]
    column = pa.array(keys, pa.binary())
    assert crc32_of(column).tolist() == [zlib.crc32(k) for k in keys]
    assert crc32_of(column.slice(17, 500)).tolist() == [zlib.crc32(k) for k in keys[17:517]]
    assert crc32_of(pa.array([], pa.binary())).dtype == np.uint32
    assert buckets_of(keys, 256).tolist() == [zlib.crc32(k) % 256 for k in keys]
