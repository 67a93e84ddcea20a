"""SQL room: schema-aware analysis of parsed statements, shared by validation and the engines.

Nothing here runs a query. `table_key` and `cte_names` say what a table
reference names (the engines' binding and the validator must agree on it);
`resolve_query` checks every table and column a query names against known
schemas and reports each problem at its line.
"""

from towpath.sql.resolve import (
    Schemas,
    SqlProblem,
    cte_names,
    node_line,
    resolve_query,
    table_key,
    unknown_table,
)

__all__ = ["Schemas", "SqlProblem", "cte_names", "node_line", "resolve_query", "table_key", "unknown_table"]
