"""A real SQLite-backed Iceberg catalog in a temp folder, and a DuckDB engine over it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from engine_tables import SOURCE_SCHEMA, TARGET_SCHEMA, by_date, source_rows

from towpath.catalog import Catalog
from towpath.config.project import EngineConfig, ProjectConfig
from towpath.engines import get_engine
from towpath.engines.duckdb import DuckDBEngine


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    cat = Catalog.open(ProjectConfig(), tmp_path)
    cat.ensure_namespace("some_db")
    return cat


@pytest.fixture
def engine(catalog: Catalog) -> Iterator[DuckDBEngine]:
    eng = get_engine(EngineConfig(threads=2), catalog)
    assert isinstance(eng, DuckDBEngine)
    yield eng
    eng.close()


@pytest.fixture
def source(catalog: Catalog) -> str:
    """`some_db.source_table`, partitioned by date, with 2022-01-01 and 2022-01-02."""
    catalog.iceberg.create_table("some_db.source_table", SOURCE_SCHEMA, partition_spec=by_date(SOURCE_SCHEMA))
    catalog.write("some_db.source_table", source_rows(days=2))
    return "some_db.source_table"


@pytest.fixture
def target(catalog: Catalog) -> str:
    """`some_db.target_table` (the seed's ranking output), partitioned by date, empty."""
    catalog.iceberg.create_table("some_db.target_table", TARGET_SCHEMA, partition_spec=by_date(TARGET_SCHEMA))
    return "some_db.target_table"
