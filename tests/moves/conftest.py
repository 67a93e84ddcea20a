"""Moves run against real stores: the embedded LMDB engine (Redis and the KV service come with their engines)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["embedded"])
def kv_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each engine: a temp folder."""
    return f"embedded:{tmp_path / 'kv'}"
