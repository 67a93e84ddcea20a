"""SQL room: schema-aware analysis of parsed statements, shared by validation, the engines and lineage.

Nothing here runs a query. `table_key` and `cte_names` say what a table
reference names (the engines' binding and the validator must agree on it);
`CatalogSchemas` is the one view of the tables a workflow's SQL may read (the
catalog's, plus those earlier DDL creates); `resolve_query` checks every table
and column a query names against those schemas and reports each problem at its
line; `query_lineage` qualifies a query against the same schemas and says which
base-table columns feed each output column and where each is read.
"""

from towpath.sql.lineage import ColumnRead, ColumnSource, QueryLineage, query_lineage
from towpath.sql.resolve import (
    Schemas,
    SqlProblem,
    cte_names,
    node_line,
    resolve_query,
    table_key,
    unknown_table,
)
from towpath.sql.schemas import CatalogSchemas

__all__ = [
    "CatalogSchemas",
    "ColumnRead",
    "ColumnSource",
    "QueryLineage",
    "Schemas",
    "SqlProblem",
    "cte_names",
    "node_line",
    "query_lineage",
    "resolve_query",
    "table_key",
    "unknown_table",
]
