"""The same federated statement on local Spark (JDBC with Debian's drivers) equals the DuckDB result,
and PostgreSQL and MariaDB receive Spark's filters and columns too."""

from __future__ import annotations

from typing import Any

import pytest
from fed_helpers import URGENT, Maria, expected_urgent, pg_reset, pg_statements

import services
from towpath.federation import FederationError
from towpath.project import Project


def test_spark_equals_duckdb(fed_project: Project, spark: Any) -> None:
    on_spark = fed_project.query(URGENT, engine="spark")
    on_duckdb = fed_project.query(URGENT, engine="duckdb")
    got = list(zip(*(on_spark.column(c).to_pylist() for c in on_spark.column_names), strict=True))
    assert got == expected_urgent()
    assert on_spark.cast(on_duckdb.schema).equals(on_duckdb)


def test_spark_pushes_filters_and_columns_into_the_servers(
    fed_project: Project, spark: Any, audited_postgres: services.PostgresServer, maria: Maria
) -> None:
    pg_reset(audited_postgres)
    maria.log_on()
    try:
        fed_project.query(URGENT, engine="spark")
    finally:
        maria.log_off()
    reads = [q for q in pg_statements(audited_postgres, "patients") if q.startswith("SELECT") and "WHERE" in q]
    assert any('"age" >' in q and '"notes"' not in q and '"state"' not in q for q in reads), reads
    sent = [q for q in maria.general_log("claims") if "WHERE" in q.upper() and "amount" in q]
    assert sent and all("memo" not in q for q in sent), maria.general_log("claims")


def test_spark_names_what_it_cannot_read(project: Project, spark: Any) -> None:
    (project.root / "app.db").touch()
    with (project.root / "towpath.yaml").open("a") as f:
        f.write("connections:\n  app:\n    type: sqlite\n    path: app.db\n")
    with pytest.raises(FederationError, match="cannot be read by the spark engine; run this query with --engine duckdb"):
        Project(project.root).query("SELECT * FROM app.devices", engine="spark")
