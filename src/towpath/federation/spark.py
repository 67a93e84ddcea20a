"""Federated queries on Spark: relational connections through Spark's JDBC source.

Each connection table a statement names becomes a temporary view over
`spark.read.format("jdbc")` with the driver Debian installs
(`libpostgresql-jdbc-java`, `libmariadb-java`; added to the session with
`ADD JAR` the first time a connection of that kind is read, so a session
started without them still works). Spark's JDBC source pushes the filters and
the needed columns into the `SELECT` it sends, as DuckDB's scanners do. Lake
tables are bound by `SparkEngine` exactly as in a workflow: the catalog plans
the pruned files and Spark reads them as Parquet.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
from sqlglot import exp

from towpath.catalog import Catalog
from towpath.config.connections import RelationalConnection
from towpath.config.project import EngineConfig, ProjectConfig
from towpath.engines.spark import SparkEngine
from towpath.errors import first_line
from towpath.federation._plan import FederatedQuery
from towpath.federation._refs import SourceRef
from towpath.federation.errors import ConnectionFailedError, FederationError

__all__ = ["SparkFederation"]


class SparkFederation:
    """The project's lake and relational connections read by the process's SparkSession."""

    def __init__(self, config: ProjectConfig, root: Path, catalog: Catalog) -> None:
        self.config, self.root = config, root
        self._engine = SparkEngine(EngineConfig(type="spark", spark=config.engine.spark), catalog)
        self._jars: set[str] = set()

    def close(self) -> None:
        self._engine.close()

    def query(self, planned: FederatedQuery, *, extra_sources: Mapping[str, pa.Table] | None = None) -> pa.Table:
        """Run a planned statement: JDBC views for its connection tables, the catalog's files for the lake,
        and `extra_sources` (Arrow rows, e.g. KV lookups) as views of their names."""
        spark = self._engine.spark
        views: list[str] = []
        try:
            for name, rows in (extra_sources or {}).items():
                spark.createDataFrame(rows).createOrReplaceTempView(name)
                views.append(name)
            for ref in planned.sources:
                self._view(ref)
                views.append(ref.placeholder)
            return self._engine.query(planned.expression)
        finally:
            for name in views:
                spark.catalog.dropTempView(name)

    def _view(self, ref: SourceRef) -> None:
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        spec = self.config.connections[ref.connection]
        if not isinstance(spec, RelationalConnection) or spec.JDBC_DRIVER is None or spec.JDBC_JAR is None:
            raise FederationError(
                f"connection '{ref.connection}' (type {spec.type}) cannot be read by the spark engine; "
                "run this query with --engine duckdb"
            )
        spark = self._engine.spark
        if spec.JDBC_JAR not in self._jars:
            if not Path(spec.JDBC_JAR).is_file():
                package = "libpostgresql-jdbc-java" if spec.DUCKDB_TYPE == "postgres" else "libmariadb-java"
                raise FederationError(f"the JDBC driver {spec.JDBC_JAR} is missing: apt-get install {package}")
            spark.sql(f"ADD JAR {exp.Literal.string(spec.JDBC_JAR).sql('spark')}")
            self._jars.add(spec.JDBC_JAR)
        url, properties = spec.jdbc(self.root, ref.connection)
        schema = ref.schema or spec.default_schema()
        table = exp.Table(this=exp.to_identifier(ref.table, quoted=True), db=exp.to_identifier(schema, quoted=True))
        dialect = "postgres" if spec.DUCKDB_TYPE == "postgres" else "mysql"
        try:
            frame = spark.read.format("jdbc").option("url", url).option("dbtable", table.sql(dialect)).options(
                **properties).load()
        except (PySparkException, Py4JError) as err:
            message = first_line(err)
            for secret in spec.secret_values(self.root, ref.connection):
                if secret:
                    message = message.replace(secret, "***")
            raise ConnectionFailedError(ref.connection, f"{ref.display}: {message}") from None
        frame.createOrReplaceTempView(ref.placeholder)
