"""Connectors room: sources and sinks shared by every capability.

Every connector is a `towpath.pipeline` `Source` or `Sink`, so it runs in any
pipeline. Names resolve lazily (module `__getattr__`): `import towpath.connectors`
never imports a database driver, so a missing optional extra (psycopg,
pymysql, s3fs) only fails when its connector is used, with the pip extra named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from towpath.registry import lazy_exports

_EXPORTS: dict[str, str] = {
    # the registry: connectors by name, with their parameter models
    "CONNECTORS": "registry",
    "ConnectorEnv": "registry",
    "ConnectorType": "registry",
    "SinkSpec": "registry",
    "SourceSpec": "registry",
    "connector_field": "registry",
    # files (object storage through fsspec)
    "CsvSource": "files",
    "CsvSink": "files",
    "JsonLinesSource": "files",
    "JsonLinesSink": "files",
    "ParquetSource": "files",
    "ParquetSink": "files",
    # SQL databases
    "PostgresSource": "postgres",
    "PostgresSink": "postgres",
    "SqliteSource": "sqlite",
    "SqliteSink": "sqlite",
    "MySqlSource": "mysql",
    "MySqlSink": "mysql",
    "DatabaseUnreachableError": "_sql",
    "DatabaseAuthError": "_sql",
    "DatabaseError": "_sql",
    "DatabaseTransientError": "_sql",
    "UnknownObjectError": "_sql",
    # Iceberg tables of the towpath catalog
    "IcebergSource": "iceberg",
    "IcebergSink": "iceberg",
    # Kafka topics (bounded reads; `towpath stream` for exactly-once ingestion)
    "KafkaSource": "kafka",
    # HTTP APIs
    "HttpSource": "http",
    "HttpSink": "http",
    "HttpCall": "http",
    "Pagination": "http",
    "PageNumber": "http",
    "OffsetLimit": "http",
    "NextCursor": "http",
    "NextLink": "http",
    "HttpRetry": "http",
    "HttpStatusError": "http",
    "HttpTransientError": "http",
}

__all__ = [
    "CONNECTORS",
    "ConnectorEnv",
    "ConnectorType",
    "CsvSink",
    "CsvSource",
    "DatabaseAuthError",
    "DatabaseError",
    "DatabaseTransientError",
    "DatabaseUnreachableError",
    "HttpCall",
    "HttpRetry",
    "HttpSink",
    "HttpSource",
    "HttpStatusError",
    "HttpTransientError",
    "IcebergSink",
    "IcebergSource",
    "JsonLinesSink",
    "JsonLinesSource",
    "KafkaSource",
    "MySqlSink",
    "MySqlSource",
    "NextCursor",
    "NextLink",
    "OffsetLimit",
    "PageNumber",
    "Pagination",
    "ParquetSink",
    "ParquetSource",
    "PostgresSink",
    "PostgresSource",
    "SinkSpec",
    "SourceSpec",
    "SqliteSink",
    "SqliteSource",
    "UnknownObjectError",
    "connector_field",
]

if TYPE_CHECKING:  # pragma: no cover
    from towpath.connectors._sql import (
        DatabaseAuthError,
        DatabaseError,
        DatabaseTransientError,
        DatabaseUnreachableError,
        UnknownObjectError,
    )
    from towpath.connectors.files import (
        CsvSink,
        CsvSource,
        JsonLinesSink,
        JsonLinesSource,
        ParquetSink,
        ParquetSource,
    )
    from towpath.connectors.http import (
        HttpCall,
        HttpRetry,
        HttpSink,
        HttpSource,
        HttpStatusError,
        HttpTransientError,
        NextCursor,
        NextLink,
        OffsetLimit,
        PageNumber,
        Pagination,
    )
    from towpath.connectors.iceberg import IcebergSink, IcebergSource
    from towpath.connectors.kafka import KafkaSource
    from towpath.connectors.mysql import MySqlSink, MySqlSource
    from towpath.connectors.postgres import PostgresSink, PostgresSource
    from towpath.connectors.registry import (
        CONNECTORS,
        ConnectorEnv,
        ConnectorType,
        SinkSpec,
        SourceSpec,
        connector_field,
    )
    from towpath.connectors.sqlite import SqliteSink, SqliteSource


__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"towpath.connectors.{module}" for name, module in _EXPORTS.items()}, globals()
)
