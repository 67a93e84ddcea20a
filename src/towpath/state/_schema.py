"""The state store's tables, each table and column tagged with the schema version that added it.

Migrations are derived from those tags: a store at version N gets the tables
added after N and, on its older tables, the columns added after N. A change that is more than "add a table or a nullable column"
registers a function in `DATA_MIGRATIONS[N]`, run in the same transaction.
Version 1 is the schema of `towpath.catalog.state` before the state room
existed (SQLite only, its version in `PRAGMA user_version`); from version 2 the
version also lives in the `schema_version` table, so Postgres stores have one.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

SCHEMA_VERSION = 5

metadata = sa.MetaData()


def _since(version: int, column: sa.Column[object]) -> sa.Column[object]:
    column.info["since"] = version
    return column


def _table(name: str, since: int, *columns: sa.Column[object] | sa.Index) -> sa.Table:
    table = sa.Table(name, metadata, *columns)
    table.info["since"] = since
    return table


schema_version = _table("schema_version", 2, sa.Column("version", sa.Integer, nullable=False))

runs = _table(
    "runs", 1,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("workflow_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("execution_date", sa.Text),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("started_at", sa.Text, nullable=False),
    sa.Column("finished_at", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("parent_run_id", sa.Text),
    _since(2, sa.Column("pid", sa.Integer)),
    _since(2, sa.Column("host", sa.Text)),
    _since(2, sa.Column("heartbeat_at", sa.Text)),
    _since(4, sa.Column("workflow_path", sa.Text)),
    _since(4, sa.Column("graph", sa.Text)),
    _since(5, sa.Column("env", sa.Text)),
    sa.Index("runs_by_workflow", "workflow_id", "kind", "status"),
    sa.Index("runs_by_parent", "parent_run_id"),
)

jobs = _table(
    "jobs", 1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id"), nullable=False),
    sa.Column("job_id", sa.Text, nullable=False),
    sa.Column("job_type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("started_at", sa.Text, nullable=False),
    sa.Column("finished_at", sa.Text),
    sa.Column("rows_written", sa.Integer),
    sa.Column("snapshots", sa.Text, nullable=False, server_default="{}"),
    sa.Column("error", sa.Text),
    sa.Column("details", sa.Text, nullable=False, server_default="{}"),
    _since(2, sa.Column("parent_job", sa.Integer)),
    _since(2, sa.Column("attempt", sa.Integer)),
    sa.Index("jobs_by_run", "run_id"),
)

audits = _table(
    "audits", 1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id"), nullable=False),
    sa.Column("job_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("function", sa.Text, nullable=False),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("blocking", sa.Integer, nullable=False),
    sa.Column("passed", sa.Integer, nullable=False),
    sa.Column("failing_rows", sa.Integer, nullable=False),
    sa.Column("sample", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.Text, nullable=False),
    _since(2, sa.Column("attempt", sa.Integer)),
    _since(2, sa.Column("sql", sa.Text, nullable=False, server_default="")),
    sa.Index("audits_by_run", "run_id"),
)

stagings = _table(
    "stagings", 2,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("publisher", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("ref", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("job_id", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.UniqueConstraint("publisher", "target", "ref", name="stagings_unique_ref"),  # type: ignore[arg-type]
)
"""Every version a WAP publisher staged (an Iceberg branch per table): who, why it is still there."""

kv_versions = _table(
    "kv_versions", 2,
    sa.Column("namespace", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("rows", sa.Integer),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False, server_default="{}"),
)

kv_aliases = _table(
    "kv_aliases", 2,
    sa.Column("alias", sa.Text, primary_key=True),
    sa.Column("namespace", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("previous_version", sa.Integer),
    sa.Column("updated_at", sa.Text, nullable=False),
)

stream_offsets = _table(
    "stream_offsets", 2,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("topic", sa.Text, primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("snapshot_id", sa.BigInteger),
    sa.Column("committed_at", sa.Text, nullable=False),
)

stream_windows = _table(
    "stream_windows", 4,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("window", sa.Text, primary_key=True),
    sa.Column("moves", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)
"""A committed window of a files sink whose staged files are still being moved into place (roll-forward log)."""

stream_sink_meta = _table(
    "stream_sink_meta", 4,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
)
"""What a files sink knows besides offsets: its Arrow schema, a CSV header read from the topic."""

alert_firings = _table(
    "alert_firings", 3,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("alert", sa.Text, nullable=False),
    sa.Column("matched", sa.BigInteger, nullable=False),
    sa.Column("offsets", sa.Text, nullable=False),
    sa.Column("snapshot_id", sa.BigInteger),
    sa.Column("sample", sa.Text, nullable=False),
    sa.Column("notify", sa.Text, nullable=False),
    sa.Column("delivery_error", sa.Text),
    sa.Column("fired_at", sa.Text, nullable=False),
    sa.Index("alert_firings_by_stream", "stream", "fired_at"),
)

migrations = _table(
    "migrations", 2,
    sa.Column("migration_id", sa.Text, primary_key=True),
    sa.Column("checksum", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("applied_at", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False, server_default="{}"),
)

lineage = _table(
    "lineage", 2,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("source_column", sa.Text),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("target_column", sa.Text),
    sa.Column("recorded_at", sa.Text, nullable=False),
    _since(3, sa.Column("workflow_id", sa.Text)),
    _since(3, sa.Column("job_id", sa.Text)),
    _since(3, sa.Column("kind", sa.Text)),
    _since(3, sa.Column("file", sa.Text)),
    _since(3, sa.Column("line", sa.Integer)),
    sa.Index("lineage_by_target", "target"),
)
"""Column edges `source.source_column -> target.target_column` (a NULL column: the whole table).
Static edges (`run_id` NULL) are replaced per workflow whenever it is validated or run; `kind` says
how an edge is known (`sql`, `declared`, `inferred`, `table`)."""

lineage_uses = _table(
    "lineage_uses", 3,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workflow_id", sa.Text, nullable=False),
    sa.Column("job_id", sa.Text, nullable=False),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("column_name", sa.Text),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("file", sa.Text),
    sa.Column("line", sa.Integer),
    sa.Index("lineage_uses_by_table", "table_name", "column_name"),
)
"""Where code names a table or column (`role` `read` or `write`): the lines a migration points at."""

lineage_workflows = _table(
    "lineage_workflows", 3,
    sa.Column("workflow_id", sa.Text, primary_key=True),
    sa.Column("path", sa.Text),
    sa.Column("owner", sa.Text),
    sa.Column("refreshed_at", sa.Text, nullable=False),
)
"""Each workflow whose static lineage is recorded: its file, owner and when it was last scanned."""

lineage_runs = _table(
    "lineage_runs", 3,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("workflow_id", sa.Text, nullable=False),
    sa.Column("job_id", sa.Text, nullable=False),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("snapshot_id", sa.BigInteger),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.Text, nullable=False),
    sa.Index("lineage_runs_by_table", "table_name"),
    sa.Index("lineage_runs_by_run", "run_id"),
)
"""Dynamic lineage: the tables (and snapshot ids) each job run read (`input`) and wrote (`output`)."""

leases = _table(
    "leases", 3,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("acquired_at", sa.Text, nullable=False),
    sa.Column("heartbeat_at", sa.Text, nullable=False),
)

charts = _table(
    "charts", 4,
    sa.Column("chart_id", sa.Text, primary_key=True),
    sa.Column("dashboard", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Index("charts_by_dashboard", "dashboard"),
)
"""Charts saved from the console's chart builder (`spec`: the builder's query as JSON), grouped by dashboard."""

deployments = _table(
    "deployments", 5,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("env", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("commit_sha", sa.Text),
    sa.Column("branch", sa.Text),
    sa.Column("dirty", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("workflows", sa.Text, nullable=False),
    sa.Column("schedules", sa.Text, nullable=False),
    sa.Column("tables", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("host", sa.Text),
    sa.Index("deployments_by_env", "env", "id"),
)
"""What each `towpath project deploy`/`promote`/`env drop` did (`DeploymentLedger`): the commit, the workflows and
schedules deployed, the tables written; JSON lists. `env` is the environment's name (`production` for main)."""

DATA_MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {}
"""Version -> a step beyond adding tables and columns (none yet)."""


def migrate(conn: sa.Connection, current: int) -> None:
    """Bring a store at version `current` (0: empty) to `SCHEMA_VERSION`, in the caller's transaction.

    Missing tables are created in their current shape; tables that exist get the
    columns added after `current`. Then each later version's data step runs.
    """
    for table in metadata.sorted_tables:
        if table.info["since"] > current:
            table.create(conn)
            continue
        for column in table.columns:
            if column.info.get("since", 0) > current:
                _add_column(conn, table, column)
    for version in range(current + 1, SCHEMA_VERSION + 1):
        if step := DATA_MIGRATIONS.get(version):
            step(conn)
    conn.execute(sa.delete(schema_version))
    conn.execute(sa.insert(schema_version).values(version=SCHEMA_VERSION))
    if conn.dialect.name == "sqlite":  # where version 1 kept it; `sqlite3 state.db 'pragma user_version'` stays true
        conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION:d}")


def read_version(conn: sa.Connection) -> int:
    """The schema version of an open store; 0 for an empty database."""
    inspector = sa.inspect(conn)
    if inspector.has_table(schema_version.name):
        found = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        return int(found or 0)
    if conn.dialect.name == "sqlite":
        return int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
    return 0


def _add_column(conn: sa.Connection, table: sa.Table, column: sa.Column[object]) -> None:
    preparer = conn.dialect.identifier_preparer
    ddl = f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.format_column(column)} " + (
        column.type.compile(dialect=conn.dialect)
    )
    if column.server_default is not None:
        default = column.server_default.arg  # type: ignore[attr-defined]
        ddl += f" DEFAULT '{default}'" if isinstance(default, str) else ""
    if not column.nullable:
        ddl += " NOT NULL"
    conn.exec_driver_sql(ddl)
