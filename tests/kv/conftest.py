"""The KV contract suite runs once per engine: `store_url` is parametrised over every engine
(embedded, Redis, Redis Cluster, PostgreSQL), each backed by a real server of the session."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from towpath.kv import KvStore, open_store

ENGINES = ["embedded", "redis", "redis_cluster", "postgres"]

_SEQ = itertools.count()


@pytest.fixture(params=ENGINES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty store of each engine (a temp folder, a new Redis db prefix, a new schema)."""
    n = next(_SEQ)
    if request.param == "embedded":
        return f"embedded:{tmp_path / 'kv'}"
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        return f"{server.url}?prefix=t{n}"
    if request.param == "redis_cluster":
        cluster = request.getfixturevalue("redis_cluster")
        return f"{cluster.url}?prefix=t{n}&buckets=64"
    server = request.getfixturevalue("postgres_server")
    return f"{server.dsn}?schema=kv_t{n}"


@pytest.fixture
def store(store_url: str) -> Iterator[KvStore]:
    with open_store(store_url) as opened:
        yield opened
