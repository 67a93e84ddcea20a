"""SQL room: schema-aware analysis of parsed statements, shared by validation, the engines and lineage.

Nothing here runs a query. `table_key` and `cte_names` say what a table
reference names (the engines' binding and the validator must agree on it);
`CatalogSchemas` is the one view of the tables a workflow's SQL may read (the
catalog's, plus those earlier DDL creates); `resolve_query` checks every table
and column a query names against those schemas and reports each problem at its
line; `source_columns` says which columns a FROM/JOIN source provides, and
`column_owner` which source a column belongs to (the one rule the engines' scan
pruning and column aliases follow);
`query_lineage` qualifies a query against the same schemas and says which
base-table columns feed each output column and where each is read;
`resolve_aliases` reads a renamed column's old name as the new one while its
rename migration runs.
"""

from towpath.sql.aliases import (
    ALIASES_PROPERTY,
    ColumnAlias,
    aliases_from,
    resolve_aliases,
    warn_deprecated,
    with_alias,
    without_aliases,
)
from towpath.sql.lineage import ColumnRead, ColumnSource, QueryLineage, query_lineage
from towpath.sql.resolve import (
    Schemas,
    SqlProblem,
    column_owner,
    cte_names,
    node_line,
    resolve_query,
    source_columns,
    table_key,
    unknown_table,
)
from towpath.sql.schemas import CatalogSchemas

__all__ = [
    "ALIASES_PROPERTY",
    "CatalogSchemas",
    "ColumnAlias",
    "ColumnRead",
    "ColumnSource",
    "QueryLineage",
    "Schemas",
    "SqlProblem",
    "aliases_from",
    "column_owner",
    "cte_names",
    "node_line",
    "query_lineage",
    "resolve_aliases",
    "resolve_query",
    "source_columns",
    "table_key",
    "unknown_table",
    "warn_deprecated",
    "with_alias",
    "without_aliases",
]
