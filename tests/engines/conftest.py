"""A real SQLite-backed Iceberg catalog in a temp folder, and every engine over it in turn."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from engine_tables import SOURCE_SCHEMA, TARGET_SCHEMA, by_date, source_rows

from towpath.catalog import Catalog
from towpath.config.project import EngineConfig, ProjectConfig, SparkConfig
from towpath.engines import Engine, get_engine
from towpath.engines.duckdb import DuckDBEngine


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    cat = Catalog.open(ProjectConfig(), tmp_path)
    cat.ensure_namespace("some_db")
    return cat


ENGINES = {
    "duckdb": EngineConfig(threads=2),
    "spark": EngineConfig(type="spark", spark=SparkConfig(master="local[2]")),
}
"""Every engine the contract suite runs on."""


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest, catalog: Catalog) -> Iterator[Engine]:
    """Each engine in turn over the same catalog (Spark on the session's shared SparkSession)."""
    if request.param == "spark":
        request.getfixturevalue("spark")
    eng = get_engine(ENGINES[request.param], catalog)
    yield eng
    eng.close()


@pytest.fixture
def duckdb_engine(catalog: Catalog) -> Iterator[DuckDBEngine]:
    eng = get_engine(ENGINES["duckdb"], catalog)
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
