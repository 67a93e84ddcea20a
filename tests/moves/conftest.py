"""Moves run against real stores: the embedded LMDB engine and a real redis-server (session fixture)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

_SEQ = itertools.count()


@pytest.fixture(params=["embedded", "redis"])
def kv_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each engine: a temp folder, or a new key prefix on the session's Redis."""
    if request.param == "embedded":
        return f"embedded:{tmp_path / 'kv'}"
    server = request.getfixturevalue("redis_server")
    return f"{server.url}?prefix=mv{next(_SEQ)}"
