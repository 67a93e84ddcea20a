"""The service over Redis: gRPC put-batches are written by niced writer processes, gets awaited on the event loop."""

from __future__ import annotations

import itertools
import multiprocessing
import os

import pyarrow as pa
import pytest

import services
from towpath.kv import Client, KvError, NamespaceNotFoundError
from towpath.kv.service import KvService, ServiceConfig

_SEQ = itertools.count()


def test_batches_stream_through_lower_priority_writer_processes(redis_server: services.RedisServer) -> None:
    config = ServiceConfig(engine=f"{redis_server.url}?prefix=writers{next(_SEQ)}", port=0,
                           grpc_port=services.free_port(), write_processes=1)
    keys = pa.array([b"k%05d" % i for i in range(6000)], pa.binary())
    values = pa.array([b"v%d" % i for i in range(6000)], pa.binary())
    with KvService(config) as service, Client(f"grpc://127.0.0.1:{service.grpc_port}") as client:
        client.create_namespace("written_1")
        batches = [(keys.slice(start, 2000), values.slice(start, 2000)) for start in range(0, 6000, 2000)]
        assert client.put_batches("written_1", iter(batches)) == 6000
        assert service.store.count("written_1") == 6000 and service.store.get("written_1", b"k04242") == b"v4242"
        writers = multiprocessing.active_children()
        assert len(writers) == 1
        assert os.getpriority(os.PRIO_PROCESS, writers[0].pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)  # 19 is the floor

        with pytest.raises(NamespaceNotFoundError, match="no namespace or alias 'missing_1'"):
            client.put_batch("missing_1", [b"a"], [b"b"])  # the writer's error, rebuilt with its class
        with pytest.raises(KvError, match="contain 1 null"):
            client.put_batch("written_1", pa.array([b"a", None], pa.binary()), [b"b", b"c"])
        assert client.put_batch("written_1", [b"after"], [b"errors"]) == 1  # the writer lived on
        assert service.store.get("written_1", b"after") == b"errors"

        # reads through the asyncio Redis client of the service's loop
        client.set_alias("written", "written_1")
        assert client.get("written", b"k00007") == b"v7" and client.get("written", b"nope") is None
        assert client.get_many("written", [b"k00001", b"nope", b"after"]) == [b"v1", None, b"errors"]
        with pytest.raises(NamespaceNotFoundError, match="Did you mean 'written'"):
            client.get("writen", b"k00001")
