"""Engines room: the `Engine` contract, the registry of engines, embedded DuckDB and PySpark.

An engine is chosen by name (`towpath.yaml` -> `engine.type`) from `ENGINES`:
an engine is a factory `(EngineConfig, Catalog) -> Engine` (the engine class
itself). A package adds one under the entry-point group `towpath.engines`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from towpath.engines.base import Engine, StatementResult, WriteMode
from towpath.registry import Registry

if TYPE_CHECKING:
    from towpath.catalog import Catalog
    from towpath.config.project import EngineConfig

__all__ = ["ENGINES", "Engine", "EngineFactory", "StatementResult", "WriteMode", "get_engine"]

EngineFactory = Callable[["EngineConfig", "Catalog"], Engine]
"""Builds an engine for the project's catalog; an engine class is one."""

ENGINES: Registry[EngineFactory] = Registry("engine", group="towpath.engines")
"""Every engine by name; `spark` needs the `spark` extra (pyspark)."""
ENGINES.register("duckdb", "towpath.engines.duckdb:DuckDBEngine")
ENGINES.register("spark", "towpath.engines.spark:SparkEngine", extra="spark")


def get_engine(config: EngineConfig, catalog: Catalog) -> Engine:
    """Start the engine `config.type` names, built in or from a plugin.

    Raises:
        UnknownNameError: no engine has that name ("Did you mean 'duckdb'?").
        NotInstalledError: the engine's optional dependency is missing (names the pip extra).
    """
    return ENGINES.get(config.type)(config, catalog)
