"""`Federation`: the front door of the room; picks the executor and keeps it open between queries."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from towpath.catalog import Catalog
from towpath.config.connections import KvConnection
from towpath.config.project import ProjectConfig
from towpath.errors import TableNotFoundError, UnknownNameError
from towpath.federation._plan import FederatedQuery, plan_query
from towpath.federation.kv import KvResolver

if TYPE_CHECKING:
    from towpath.engines import Engine
    from towpath.federation.duckdb import DuckDBFederation
    from towpath.federation.spark import SparkFederation

__all__ = ["ENGINES", "Federation"]

ENGINES = ("duckdb", "spark")
"""Engines a federated statement runs on."""


class Federation:
    """A project's lake and connections, queried together; executors open on first use."""

    def __init__(self, config: ProjectConfig, root: Path, catalog: Catalog) -> None:
        self.config, self.root, self.catalog = config, root, catalog
        self._duckdb: DuckDBFederation | None = None
        self._spark: SparkFederation | None = None
        self._kv: KvResolver | None = None
        self._lock = threading.Lock()

    def plan(self, sql: str | exp.Expression, *, dialect: str | None = None) -> FederatedQuery:
        """The statement split into connection tables and lake tables (nothing runs)."""
        return plan_query(sql, self.config.connections, dialect=dialect or self.config.dialect)

    def query(
        self, sql: str | exp.Expression, *, dialect: str | None = None, engine: str | None = None,
        lake: Engine | None = None,
    ) -> pa.Table:
        """Run one SELECT over the lake and the connections it names; rows as Arrow.

        `engine` is `duckdb` or `spark` (default: the project's). A statement that
        names no connection runs on `lake` (the project's engine) when given and
        of that kind, so it reads what that engine has registered too.

        Raises:
            SqlError: not one SELECT, or the statement fails.
            TableNotFoundError / UnknownSourceTableError / FederationError: a name is wrong ("did you mean").
            ConnectionFailedError: a connection would not open.
            SpecError: a connection's secret is missing (at its towpath.yaml line).
        """
        kind = engine or self.config.engine.type
        if kind not in ENGINES:
            raise UnknownNameError("engine", kind, list(ENGINES))
        planned = self.plan(sql, dialect=dialect)
        try:
            if not planned.sources and lake is not None and lake.name == kind:
                return lake.query(planned.expression)
            executor = self._spark_federation() if kind == "spark" else self._duckdb_federation()
            rows: dict[str, pa.Table] = {}
            if any(isinstance(self.config.connections[r.connection], KvConnection) for r in planned.sources):
                planned = self.kv.resolve(planned, lambda q: executor.query(q, extra_sources=rows), rows.__setitem__)
            return executor.query(planned, extra_sources=rows)
        except TableNotFoundError as err:
            raise self._unknown_lake_table(err) from None

    @property
    def kv(self) -> KvResolver:
        """The KV connections' stores and compiled schemas (opened on first use); `.lookups` tells what ran."""
        with self._lock:
            if self._kv is None:
                self._kv = KvResolver(self.config.connections, self.root)
            return self._kv

    def close(self) -> None:
        for executor in (self._duckdb, self._spark, self._kv):
            if executor is not None:
                executor.close()
        self._duckdb = self._spark = self._kv = None

    def _duckdb_federation(self) -> DuckDBFederation:
        from towpath.federation.duckdb import DuckDBFederation

        with self._lock:
            if self._duckdb is None:
                self._duckdb = DuckDBFederation(self.config, self.root, self.catalog)
            return self._duckdb

    def _spark_federation(self) -> SparkFederation:
        from towpath.federation.spark import SparkFederation

        with self._lock:
            if self._spark is None:
                self._spark = SparkFederation(self.config, self.root, self.catalog)
            return self._spark

    def _unknown_lake_table(self, err: TableNotFoundError) -> TableNotFoundError:
        """The lake's "does not exist", with a connection's table among the suggestions (`ehrr.x` -> `ehr.x`)."""
        namespace, _, table = err.identifier.rpartition(".")
        lake = self.catalog.list_tables()
        known = list(lake)
        if namespace not in {t.rpartition(".")[0] for t in lake}:  # perhaps a mistyped connection name
            known += [f"{name}.{table}" for name in self.config.connections]
        return TableNotFoundError(err.identifier, known)
