"""End to end: the health-and-wellness example on a real MariaDB, the lake and the embedded KV store.

Step 1 sets every store up; step 2's federated query must find exactly the
patients `data.py` planted as urgent and none of its decoys. The CDC and search
steps of the example's README extend this test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, where `examples/` lives

from examples.health_wellness.data import HealthData
from examples.health_wellness.setup import Database, setup

import services
from towpath.project import Project

URGENT_SQL = Path(__file__).resolve().parents[2] / "examples/health_wellness/urgent_care.sql"


@pytest.fixture
def health(tmp_path: Path, mysql_server: services.MySqlServer) -> tuple[Project, HealthData]:
    db = Database(mysql_server.host, mysql_server.port, mysql_server.user, mysql_server.password)
    return setup(tmp_path / "health", db, patients=600)


def test_setup_fills_every_store(health: tuple[Project, HealthData], mysql_server: services.MySqlServer) -> None:
    project, data = health
    counts = project.query("""
        SELECT (SELECT count(*) FROM ehr.patients) AS patients, (SELECT count(*) FROM ehr.claims) AS claims,
               (SELECT count(*) FROM claims.history) AS history, (SELECT count(*) FROM devices.daily) AS devices""")
    assert counts.to_pylist() == [{"patients": 600, "claims": data.claims.num_rows, "history": 600 * 7,
                                   "devices": 600}]
    assert mysql_server.password not in (project.root / "towpath.yaml").read_text()
    assert (project.root / ".secrets/ehr_password").stat().st_mode & 0o077 == 0


def test_the_urgent_care_query_finds_the_planted_patients(health: tuple[Project, HealthData]) -> None:
    project, data = health
    urgent = project.query(URGENT_SQL.read_text())
    found = sorted(urgent.column("patient_id").to_pylist())
    assert found == data.urgent and len(found) == 10
    assert not set(found) & set(data.decoys)
    assert urgent.column_names[:3] == ["patient_id", "name", "conditions"]
    ehr_patients = data.patients.num_rows
    (table, keys), = project.federation.kv.lookups
    assert table == "devices.daily" and 0 < keys < ehr_patients  # looked up, not scanned
