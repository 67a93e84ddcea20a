"""Federated queries on DuckDB: joins across PostgreSQL, MariaDB, SQLite, the lake and another catalog,
with pushdown proven from each server's side, names checked ("did you mean"), secrets never shown."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from fed_helpers import URGENT, Maria, expected_urgent, pg_reset, pg_statements

import services
from towpath.config.connections import Secret
from towpath.errors import SpecError, SqlError, TableNotFoundError
from towpath.federation import ConnectionFailedError, FederationError, UnknownSourceTableError
from towpath.project import Project


def test_one_statement_joins_postgres_mariadb_and_the_lake(fed_project: Project) -> None:
    result = fed_project.query(URGENT)
    assert result.column_names == ["id", "name", "amount", "visits"]
    got = list(zip(*(result.column(c).to_pylist() for c in result.column_names), strict=True))
    assert got == expected_urgent() and got


def test_postgres_receives_the_where_clause_and_only_the_needed_columns(
    fed_project: Project, audited_postgres: services.PostgresServer
) -> None:
    pg_reset(audited_postgres)
    fed_project.query(URGENT)
    reads = [q for q in pg_statements(audited_postgres, "patients") if q.startswith("COPY")]
    assert len(reads) == 1, reads
    sent = reads[0]
    where = sent.split(" WHERE ", 1)[1]  # DuckDB may add its own ctid range for a parallel scan
    assert """"age" > '85'""" in where
    selected = sent.split("FROM")[0]
    assert all(f'"{c}"' in selected for c in ("id", "name", "age"))
    assert '"notes"' not in sent and '"state"' not in sent


def test_mariadb_receives_the_where_clause_and_only_the_needed_columns(fed_project: Project, maria: Maria) -> None:
    maria.log_on()
    try:
        fed_project.query(URGENT)
    finally:
        maria.log_off()
    reads = [q for q in maria.general_log("claims") if q.upper().startswith("SELECT") and "information_schema" not in q]
    assert reads, maria.general_log("claims")
    sent = reads[-1]
    assert "WHERE" in sent.upper() and "amount" in sent and "400" in sent
    assert "memo" not in sent and "code" not in sent


def test_a_schema_qualified_connection_table(fed_project: Project) -> None:
    result = fed_project.query("SELECT name FROM clinic.billing.plans ORDER BY id")
    assert result.column("name").to_pylist() == ["gold", "silver"]


def test_sqlite_connection(project: Project) -> None:
    db = project.root / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE devices (id INTEGER, kind TEXT)")
        conn.executemany("INSERT INTO devices VALUES (?, ?)", [(1, "watch"), (2, "ring"), (3, "watch")])
    with (project.root / "towpath.yaml").open("a") as f:
        f.write("connections:\n  app:\n    type: sqlite\n    path: app.db\n")
    result = Project(project.root).query("SELECT kind, count(*) AS n FROM app.devices GROUP BY kind ORDER BY kind")
    assert result.to_pydict() == {"kind": ["ring", "watch"], "n": [1, 2]}


def test_another_iceberg_catalog_is_a_connection(fed_project: Project, tmp_path: Path) -> None:
    other = Project.init(tmp_path / "other", name="other")
    other.engine.run_script("CREATE TABLE research.cohorts (patient_id INT, cohort STRING) USING iceberg")
    other.engine.write("research.cohorts", pa.table({"patient_id": pa.array([2, 3], pa.int32()),
                                                     "cohort": ["a", "b"]}), mode="append")
    with (fed_project.root / "towpath.yaml").open("a") as f:
        f.write(f"""  research:
    type: iceberg
    catalog: {{type: sql, uri: "sqlite:///{other.root}/.towpath/catalog.db"}}
    warehouse: {other.root}/.towpath/warehouse
""")
    project = Project(fed_project.root)
    result = project.query("""SELECT r.cohort, v.visits FROM research.research.cohorts r
                              JOIN lake.visits v ON v.patient_id = r.patient_id WHERE r.cohort = 'b'""")
    assert result.to_pydict() == {"cohort": ["b"], "visits": [2]}


@pytest.mark.parametrize(("sql", "error", "suggestion"), [
    ("SELECT * FROM clinic.patiens", UnknownSourceTableError, "'clinic.patients'"),
    ("SELECT * FROM ehr.claim", UnknownSourceTableError, "'ehr.claims'"),
    ("SELECT * FROM ehrr.claims", TableNotFoundError, "'ehr.claims'"),
    ("SELECT * FROM lake.visit", TableNotFoundError, "'lake.visits'"),
    ("SELECT * FROM clinik.public.patients", FederationError, "'clinic'"),
])
def test_a_wrong_name_gets_did_you_mean(fed_project: Project, sql: str, error: type[Exception], suggestion: str) -> None:
    with pytest.raises(error, match="Did you mean") as info:
        fed_project.query(sql)
    assert suggestion in str(info.value)
    assert "pg_catalog" not in str(info.value) and "information_schema" not in str(info.value)


def test_not_a_select_is_refused(fed_project: Project) -> None:
    with pytest.raises(SqlError, match="SELECT"):
        fed_project.query("DELETE FROM clinic.patients")
    with pytest.raises(SqlError, match="exactly one statement"):
        fed_project.query("SELECT 1; SELECT 2")


def test_secrets_are_never_printed(fed_project: Project, audited_postgres: services.PostgresServer) -> None:
    text = repr(fed_project.config) + str(fed_project.config.connections)
    assert audited_postgres.password not in text and "***" in text
    assert repr(Secret(env="X")) == "Secret(env='X', value='***')"


def test_a_secret_written_in_the_yaml_is_refused_at_its_line(project: Project) -> None:
    with (project.root / "towpath.yaml").open("a") as f:
        f.write("connections:\n  db:\n    type: postgres\n    user: u\n    password: hunter2\n    database: d\n")
    with pytest.raises(SpecError, match=r"towpath.yaml:\d+:\d+: connections.db.password: .*\{env: VARIABLE\}") as info:
        Project(project.root)
    assert "hunter2" not in str(info.value)


def test_a_missing_secret_is_an_error_at_its_line(fed_project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOWPATH_TEST_PG_PASSWORD")
    with pytest.raises(SpecError, match=r"towpath.yaml:\d+:\d+: connections.clinic.password: the environment "
                                        r"variable TOWPATH_TEST_PG_PASSWORD is not set"):
        Project(fed_project.root).query("SELECT count(*) FROM clinic.patients")


def test_a_wrong_password_fails_without_showing_it(fed_project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWPATH_TEST_PG_PASSWORD", "wrong-pass-9431")
    with pytest.raises(ConnectionFailedError, match="cannot open connection 'clinic'") as info:
        Project(fed_project.root).query("SELECT count(*) FROM clinic.patients")
    assert "wrong-pass-9431" not in str(info.value)


def test_a_server_that_is_not_there(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW", "pw")
    port = services.free_port()
    with (project.root / "towpath.yaml").open("a") as f:
        f.write(f"connections:\n  gone:\n    type: postgres\n    port: {port}\n    user: u\n    password: {{env: PW}}\n"
                "    database: d\n")
    with pytest.raises(ConnectionFailedError, match="cannot open connection 'gone'"):
        Project(project.root).query("SELECT * FROM gone.t")


def test_a_project_without_connections_queries_the_lake(project: Project) -> None:
    project.engine.run_script("CREATE TABLE lake.t (x INT) USING iceberg")
    project.engine.write("lake.t", pa.table({"x": pa.array([1, 2, 3], pa.int32())}), mode="append")
    assert project.query("SELECT sum(x) AS s FROM lake.t WHERE x > 1").to_pydict() == {"s": [5]}


def test_queries_from_several_threads_share_the_attached_databases(fed_project: Project) -> None:
    results: list[pa.Table] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(fed_project.query(URGENT))
        except BaseException as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    assert all(r.equals(results[0]) for r in results)
