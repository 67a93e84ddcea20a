"""The KV contract suite runs once per engine: `store_url` is parametrised over every engine
(embedded, Redis, Redis Cluster, PostgreSQL, each backed by a real server of the session) and over
the KV service (`towpath kv serve` on an embedded store) through its gRPC and HTTP clients."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

import services
from towpath.kv import KvStore, open_store
from towpath.kv.service import KvService, ServiceConfig

ENGINES = ["embedded", "redis", "redis_cluster", "postgres", "service_grpc", "service_http"]

_SEQ = itertools.count()


@pytest.fixture
def kv_service(tmp_path: Path) -> Iterator[KvService]:
    """`towpath kv serve` over a fresh embedded store, on free loopback ports, without tokens."""
    config = ServiceConfig(engine=f"embedded:{tmp_path / 'served'}", port=services.free_port(),
                           grpc_port=services.free_port())
    with KvService(config) as service:
        yield service


@pytest.fixture(params=ENGINES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty store of each engine (a temp folder, a new Redis prefix, a new schema)."""
    n = next(_SEQ)
    if request.param == "embedded":
        return f"embedded:{tmp_path / 'kv'}"
    if request.param == "redis":
        return f"{request.getfixturevalue('redis_server').url}?prefix=t{n}"
    if request.param == "redis_cluster":
        return f"{request.getfixturevalue('redis_cluster').url}?prefix=t{n}&buckets=64"
    if request.param == "postgres":
        return f"{request.getfixturevalue('postgres_server').dsn}?schema=kv_t{n}"
    service: KvService = request.getfixturevalue("kv_service")
    if request.param == "service_grpc":
        return f"grpc://127.0.0.1:{service.grpc_port}"
    return f"http://127.0.0.1:{service.port}"


@pytest.fixture
def store(store_url: str) -> Iterator[KvStore]:
    with open_store(store_url) as opened:
        yield opened
