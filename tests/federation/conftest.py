"""Real PostgreSQL (with `pg_stat_statements`, to see what reaches it), MariaDB and a project joining them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fed_helpers import PATIENTS, Maria, connections_yaml

import services
from towpath.project import Project


@pytest.fixture(scope="session")
def audited_postgres() -> Iterator[services.PostgresServer]:
    """A PostgreSQL whose `pg_stat_statements` records every statement it receives, with a `patients` table."""
    import psycopg

    settings = {"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track_utility": "on"}
    with services.postgres_server(settings=settings) as server:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute("CREATE TABLE patients (id int PRIMARY KEY, name text, age int, state text, notes text)")
            conn.execute(
                "INSERT INTO patients SELECT g, 'patient-' || g, g % 90, (ARRAY['CA','NY','TX'])[g % 3 + 1], "
                f"repeat('n', 50) FROM generate_series(1, {PATIENTS}) g"
            )
            conn.execute("CREATE SCHEMA billing")
            conn.execute("CREATE TABLE billing.plans (id int, name text)")
            conn.execute("INSERT INTO billing.plans VALUES (1, 'gold'), (2, 'silver')")
        yield server


@pytest.fixture(scope="session")
def maria(mysql_server: services.MySqlServer) -> Maria:
    """The session's MariaDB with a `fed_health.claims` table (patient 1..1000, two claims each)."""
    db = Maria(mysql_server)
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {db.database}")
        cur.execute(f"CREATE OR REPLACE TABLE {db.database}.claims "
                    "(id INT PRIMARY KEY, patient_id INT, amount DOUBLE, code VARCHAR(10), memo TEXT)")
        rows = [(i, (i - 1) % PATIENTS + 1, float(i % 500), f"C{i % 7}", "m" * 40) for i in range(1, 2 * PATIENTS + 1)]
        cur.executemany(f"INSERT INTO {db.database}.claims VALUES (%s, %s, %s, %s, %s)", rows)
    return db


@pytest.fixture
def fed_project(
    tmp_path: Path, audited_postgres: services.PostgresServer, maria: Maria, monkeypatch: pytest.MonkeyPatch
) -> Project:
    """A project with connections `clinic` (PostgreSQL) and `ehr` (MariaDB), and a lake table `lake.visits`."""
    project = Project.init(tmp_path / "proj", name="fed")
    monkeypatch.setenv("TOWPATH_TEST_PG_PASSWORD", audited_postgres.password)
    (project.root / "secrets").mkdir()
    (project.root / "secrets" / "ehr.txt").write_text(maria.server.password + "\n")
    with (project.root / "towpath.yaml").open("a") as f:
        f.write(connections_yaml(audited_postgres, maria))
    project = Project(project.root)
    project.engine.run_script("CREATE TABLE lake.visits (patient_id INT, visits INT, dept STRING) USING iceberg")
    ids = pa.array(range(1, PATIENTS + 1), pa.int32())
    project.engine.write("lake.visits", pa.table({
        "patient_id": ids, "visits": pa.array([i % 5 for i in range(PATIENTS)], pa.int32()),
        "dept": pa.array(["er" if i % 10 == 0 else "gp" for i in range(PATIENTS)]),
    }), mode="append")
    return project
