"""Engines room: the `Engine` contract, the registry of engines, embedded DuckDB and PySpark.

An engine is chosen by name (`towpath.yaml` -> `engine.type`). Built-in engines
are in `ENGINES`; a package can add one under the entry-point group
`towpath.engines`, whose object is a factory `(EngineConfig, Catalog) -> Engine`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from towpath.engines.base import Engine, StatementResult, WriteMode
from towpath.errors import UnknownNameError

if TYPE_CHECKING:
    from towpath.catalog import Catalog
    from towpath.config.project import EngineConfig

__all__ = ["ENGINES", "ENTRY_POINT_GROUP", "Engine", "StatementResult", "WriteMode", "get_engine"]

ENTRY_POINT_GROUP = "towpath.engines"

EngineFactory = Callable[["EngineConfig", "Catalog"], Engine]


def _duckdb(config: EngineConfig, catalog: Catalog) -> Engine:
    from towpath.engines.duckdb import DuckDBEngine  # lazy: keeps `towpath --help` fast

    return DuckDBEngine(config, catalog)


def _spark(config: EngineConfig, catalog: Catalog) -> Engine:
    from towpath.engines.spark import SparkEngine  # lazy: pyspark is an optional extra

    return SparkEngine(config, catalog)


ENGINES: dict[str, EngineFactory] = {"duckdb": _duckdb, "spark": _spark}


def get_engine(config: EngineConfig, catalog: Catalog) -> Engine:
    """Start the engine `config.type` names, built in or from a plugin.

    Raises:
        UnknownNameError: no engine has that name ("Did you mean 'duckdb'?").
    """
    factory = ENGINES.get(config.type)
    if factory is None:
        plugins = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        if config.type not in plugins:
            raise UnknownNameError("engine", config.type, [*ENGINES, *plugins])
        factory = plugins[config.type].load()
    return factory(config, catalog)
