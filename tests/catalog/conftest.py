"""Fixtures for the catalog room: a fresh embedded catalog (SQLite + local warehouse) per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_data import RESULTS, SEED_DDL, day_rows, open_catalog  # noqa: F401 - re-exported for fixtures

from towpath.catalog import Catalog, apply_ddl


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def catalog(root: Path) -> Catalog:
    return open_catalog(root)


@pytest.fixture
def results(catalog: Catalog) -> str:
    """The seed's results table, created from its DDL and empty."""
    apply_ddl(catalog, SEED_DDL)
    return RESULTS
