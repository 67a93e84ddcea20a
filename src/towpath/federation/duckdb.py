"""Federated queries on DuckDB: relational connections attached with DuckDB's own scanners.

Each relational connection a statement names is `ATTACH`ed read-only once per
`DuckDBFederation` (`postgres_scanner`, `mysql_scanner`, `sqlite_scanner`, loaded
offline from their wheels by `towpath.engines.extensions`), so filter and
projection pushdown are the scanners' own: PostgreSQL receives
`COPY (SELECT <needed columns> FROM t WHERE <filters>)`, MySQL a `SELECT` with
the same. Lake tables are bound exactly as the workflow engine binds them
(`DuckDBEngine.bind`: the catalog plans the scan with partition and metrics
pruning from the WHERE clause and the table becomes `read_parquet([files])`).
Tables of other Iceberg catalogs (`iceberg` connections) are bound the same way
through their own catalog. KV namespaces are looked up by key (`towpath.federation.kv`).

One DuckDB database serves the whole federation; each query runs on its own
cursor, so threads may query at once (attached databases are shared by every
cursor of the database).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from sqlglot import exp

from towpath.catalog import Catalog
from towpath.config.connections import IcebergConnection, RelationalConnection
from towpath.config.project import EngineConfig, ProjectConfig
from towpath.engines.duckdb import DuckDBEngine
from towpath.engines.extensions import load_extension
from towpath.errors import SqlError, first_line
from towpath.federation._plan import FederatedQuery
from towpath.federation._refs import SourceRef, hide_qualified, restore
from towpath.federation.errors import ConnectionFailedError, FederationError, UnknownSourceTableError
from towpath.sql import warn_deprecated

__all__ = ["DuckDBFederation"]

_SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "mysql", "performance_schema", "sys"})
"""The databases' own catalogs: never suggested for a mistyped table."""


class DuckDBFederation:
    """One DuckDB database that reads the lake and every connection of a project."""

    def __init__(self, config: ProjectConfig, root: Path, catalog: Catalog) -> None:
        self.config, self.root, self.catalog = config, root, catalog
        engine = EngineConfig(threads=config.engine.threads, memory_limit=config.engine.memory_limit)
        settings: dict[str, Any] = {}
        if engine.threads:
            settings["threads"] = engine.threads
        if engine.memory_limit:
            settings["memory_limit"] = engine.memory_limit
        self._con = duckdb.connect(":memory:", config=settings)
        self._lake = DuckDBEngine(engine, catalog)
        self._catalogs: dict[str, DuckDBEngine] = {}
        self._attached: set[str] = set()
        self._checked: set[str] = set()
        """Attached tables known to exist (`"conn"."schema"."table"`)."""
        self._applied: set[str] = set()
        self._secrets: set[str] = set()
        """Connection strings and passwords opened so far: error messages never show them."""
        self._lock = threading.Lock()

    def close(self) -> None:
        self._lake.close()
        for engine in self._catalogs.values():
            engine.close()
        self._con.close()

    # -- querying -------------------------------------------------------------------------------

    def query(self, planned: FederatedQuery, *, extra_sources: Mapping[str, pa.Table] | None = None) -> pa.Table:
        """Run a planned statement; `extra_sources` are Arrow tables readable under their names."""
        expression: exp.Expression = planned.expression
        sources: dict[str, pa.Table | ds.Dataset] = dict(extra_sources or {})
        replacements: dict[str, exp.Expression] = {}
        for ref in planned.sources:
            spec = self.config.connections[ref.connection]
            if isinstance(spec, RelationalConnection):
                replacements[ref.placeholder] = self._attached_table(ref, spec)
            elif isinstance(spec, IcebergConnection):
                expression = self._bind_catalog(expression, ref, spec, sources)
            elif ref.placeholder not in sources:
                raise FederationError(f"connection '{ref.connection}' (type {spec.type}) is not a table source here")
        bound = self._lake.bind(expression, {}, None, 1)
        warn_deprecated(bound.aliases)
        sources.update({k: v for k, v in bound.sources.items() if isinstance(v, pa.Table | ds.Dataset)})
        sql = restore(bound.expression, replacements).sql(dialect="duckdb")
        self._set_up_lake_reads()
        return self.execute(sql, sources)

    def _set_up_lake_reads(self) -> None:
        """What the lake engines' bindings need on this connection (httpfs and S3 secrets), once each."""
        engines = [self._lake, *self._catalogs.values()]
        with self._lock:
            for statement in (s for engine in engines for s in engine.session_setup()):
                if statement not in self._applied:
                    self._con.execute(statement)
                    self._applied.add(statement)

    def execute(self, sql: str, sources: Mapping[str, pa.Table | ds.Dataset]) -> pa.Table:
        """Run DuckDB SQL on a fresh cursor with `sources` registered under their names."""
        cursor = self._con.cursor()
        try:
            for name, data in sources.items():
                cursor.register(name, data)
            return cursor.sql(sql).to_arrow_table()
        except duckdb.Error as err:
            raise SqlError(self._redact(first_line(err)), line=1) from None
        finally:
            cursor.close()

    # -- relational connections -----------------------------------------------------------------

    def _attached_table(self, ref: SourceRef, spec: RelationalConnection) -> exp.Table:
        """The attached table `ref` names, checked once (a wrong name gets "did you mean")."""
        self.attach(ref.connection, spec)
        schema = ref.schema or spec.default_schema()
        table = exp.Table(this=exp.to_identifier(ref.table, quoted=True), db=exp.to_identifier(schema, quoted=True),
                          catalog=exp.to_identifier(ref.connection, quoted=True))
        key = table.sql("duckdb")
        with self._lock:
            if key in self._checked:
                return table
        cursor = self._con.cursor()
        try:
            cursor.execute(f"DESCRIBE {key}")  # binds the name (the scanner reads the catalog), reads no rows
        except duckdb.CatalogException:
            rows = cursor.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?", [ref.connection]
            ).fetchall()
            default = spec.default_schema().lower()
            known = [f"{ref.connection}.{t}" if str(s).lower() == default else f"{ref.connection}.{s}.{t}"
                     for s, t in rows if str(s).lower() not in _SYSTEM_SCHEMAS]
            raise UnknownSourceTableError(ref.display, known) from None
        except duckdb.Error as err:
            raise ConnectionFailedError(ref.connection, self._redact(first_line(err))) from None
        finally:
            cursor.close()
        with self._lock:
            self._checked.add(key)
        return table

    def attach(self, name: str, spec: RelationalConnection) -> None:
        """ATTACH connection `name` read-only with its DuckDB scanner, once."""
        with self._lock:
            if name in self._attached:
                return
            dsn = spec.duckdb_dsn(self.root, name)
            self._secrets.update(v for v in (dsn, *spec.secret_values(self.root, name)) if v)
            try:
                load_extension(self._con, spec.EXTENSION)
                self._con.execute(
                    f"ATTACH {exp.Literal.string(dsn).sql('duckdb')} AS {exp.to_identifier(name, quoted=True).sql('duckdb')}"
                    f" (TYPE {spec.DUCKDB_TYPE}, READ_ONLY)"
                )
            except duckdb.Error as err:
                raise ConnectionFailedError(name, self._redact(first_line(err))) from None
            self._attached.add(name)

    def _redact(self, text: str) -> str:
        """`text` without any connection string or password it may quote (longest first)."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    # -- other Iceberg catalogs -----------------------------------------------------------------

    def _bind_catalog(
        self, expression: exp.Expression, ref: SourceRef, spec: IcebergConnection, sources: dict[str, Any]
    ) -> exp.Expression:
        """Bind `ref` through its own catalog (pruned like a lake table), leaving the rest of the query alone."""
        if ref.schema is None:
            raise FederationError(
                f"'{ref.display}': name a table of connection '{ref.connection}' as {ref.connection}.namespace.table"
            )
        engine = self._catalog_engine(ref.connection, spec)
        lake = hide_qualified(expression)
        revealed = restore(expression, {ref.placeholder: exp.to_table(f"{ref.schema}.{ref.table}")})
        bound = engine.bind(revealed, {}, None, 1)
        sources.update(bound.sources)
        return restore(bound.expression, lake)

    def _catalog_engine(self, name: str, spec: IcebergConnection) -> DuckDBEngine:
        with self._lock:
            if name not in self._catalogs:
                data: dict[str, Any] = {"catalog": spec.catalog}
                if spec.warehouse:
                    data["warehouse"] = spec.warehouse
                catalog = Catalog.open(ProjectConfig.model_validate(data), self.root)
                self._catalogs[name] = DuckDBEngine(EngineConfig(), catalog)
            return self._catalogs[name]
