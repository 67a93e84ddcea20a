"""Helpers of the federation tests: what each server received, the fixtures' data, the urgent-care join."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import services

PATIENTS = 1000


def pg_statements(server: services.PostgresServer, table: str) -> list[str]:
    """The statements PostgreSQL received that name `table` (since the last `pg_reset`)."""
    import psycopg

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_statements WHERE query ILIKE %s AND query NOT ILIKE '%%pg_stat_statements%%'",
            (f"%{table}%",),
        ).fetchall()
    return [str(r[0]) for r in rows]


def pg_reset(server: services.PostgresServer) -> None:
    import psycopg

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


@dataclass
class Maria:
    server: services.MySqlServer
    database: str = "fed_health"

    def connect(self) -> Any:
        import pymysql

        s = self.server
        return pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, autocommit=True)

    def general_log(self, table: str) -> list[str]:
        """The queries MariaDB logged that name `table` since `log_on`."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log "
                        "WHERE command_type IN ('Query', 'Execute') AND argument LIKE %s", (f"%{table}%",))
            return [str(r[0]) for r in cur.fetchall() if "general_log" not in str(r[0])]

    def log_on(self) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL general_log = 'OFF'")
            cur.execute("TRUNCATE TABLE mysql.general_log")
            cur.execute("SET GLOBAL log_output = 'TABLE'")
            cur.execute("SET GLOBAL general_log = 'ON'")

    def log_off(self) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL general_log = 'OFF'")


def connections_yaml(pg: services.PostgresServer, maria: Maria) -> str:
    return f"""
connections:
  clinic:
    type: postgres
    port: {pg.port}
    user: {pg.user}
    password: {{env: TOWPATH_TEST_PG_PASSWORD}}
    database: {pg.dbname}
  ehr:
    type: mariadb
    port: {maria.server.port}
    user: {maria.server.user}
    password: {{file: secrets/ehr.txt}}
    database: {maria.database}
"""


URGENT = """
SELECT p.id, p.name, c.amount, v.visits
FROM clinic.patients p
JOIN ehr.claims c ON c.patient_id = p.id
JOIN lake.visits v ON v.patient_id = p.id
WHERE p.age > 85 AND c.amount > 400 AND v.dept = 'gp'
ORDER BY p.id, c.amount
"""


def expected_urgent() -> list[tuple[int, str, float, int]]:
    """The URGENT rows computed from how the fixtures generate their data (not by any engine)."""
    rows = []
    for pid in range(1, PATIENTS + 1):
        if pid % 90 <= 85 or (pid - 1) % 10 == 0:
            continue
        amounts = sorted(float(i % 500) for i in (pid, pid + PATIENTS) if i % 500 > 400)
        rows += [(pid, f"patient-{pid}", a, (pid - 1) % 5) for a in amounts]
    return rows
