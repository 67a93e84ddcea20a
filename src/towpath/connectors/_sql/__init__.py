"""What the SQL-database connectors share, one concern per module.

`errors` (driver exceptions -> towpath errors), `identifiers` (quoted names), `types` (Arrow <->
SQL types, `SqlDialect`), `ddl` (statements as sqlglot expressions), `drivers` (batches through
row-API drivers) and `lifecycle` (`DatabaseSource`, `DatabaseSink`, `DbapiSink`).

Each database states how it differs as data (a `SqlDialect` and a `Backend`), so the
PostgreSQL, SQLite and MySQL connectors build the same statements from the same functions
and only the rendering dialect changes. No SQL is spliced together from strings: table and
column names go through `exp.to_table` / `exp.to_identifier` with quoting forced, so a column
called `order` or `Merchant Id` is safe.
"""

from towpath.connectors._sql.ddl import (
    create_staging,
    create_table,
    delete_all,
    drop_table,
    insert_select,
    insert_values,
    on_conflict_update,
    select_from,
)
from towpath.connectors._sql.drivers import (
    batch_to_rows,
    column_from_values,
    fetch_batches,
    rebatch,
    rows_to_batch,
)
from towpath.connectors._sql.errors import (
    DatabaseAuthError,
    DatabaseError,
    DatabaseTransientError,
    DatabaseUnreachableError,
    ErrorRule,
    Resource,
    UnknownObjectError,
    map_errors,
)
from towpath.connectors._sql.identifiers import column, table_expr
from towpath.connectors._sql.lifecycle import Backend, DatabaseSink, DatabaseSource, DbapiSink
from towpath.connectors._sql.types import (
    MYSQL,
    POSTGRES,
    SQLITE,
    SqlDialect,
    arrow_type_for_declared,
    sql_type,
)

__all__ = [
    "MYSQL", "POSTGRES", "SQLITE", "Backend", "DatabaseAuthError", "DatabaseError", "DatabaseSink", "DatabaseSource",
    "DatabaseTransientError", "DatabaseUnreachableError", "DbapiSink", "ErrorRule", "Resource", "SqlDialect",
    "UnknownObjectError", "arrow_type_for_declared", "batch_to_rows", "column", "column_from_values", "create_staging",
    "create_table", "delete_all", "drop_table", "fetch_batches", "insert_select", "insert_values", "map_errors",
    "on_conflict_update", "rebatch", "rows_to_batch", "select_from", "sql_type", "table_expr",
]
