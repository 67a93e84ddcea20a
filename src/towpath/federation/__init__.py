"""Federation room: one SQL statement across the lake and a project's connections (`towpath query`).

`Federation.query(sql)` parses one SELECT, finds which tables name a connection
of `towpath.yaml` (`ehr.patients`) and which the lake (`claims.history`), and
runs it on DuckDB (default: relational sources through DuckDB's own scanners,
with their filter and projection pushdown) or Spark (JDBC, same pushdown),
with KV namespaces read by key lookups. See docs/query.md.
"""

from __future__ import annotations

from towpath.federation.errors import ConnectionFailedError, FederationError, UnknownSourceTableError
from towpath.federation.query import Federation

__all__ = ["ConnectionFailedError", "Federation", "FederationError", "UnknownSourceTableError"]
