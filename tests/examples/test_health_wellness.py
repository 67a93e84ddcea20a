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


def test_cdc_keeps_the_lake_copy_and_search_index_current_while_profiles_change(
        tmp_path: Path, mysql_binlog: services.MySqlServer) -> None:
    """Steps 3-5: the profiles stream into the lake and the search index while a script changes them.

    The job runs as `towpath cdc run` in its own process, is killed (-9) after the
    script, and a second run catches up; then the lake copy and the index equal
    MariaDB row for row, and `towpath search` finds exactly the patients MariaDB's
    own query finds.
    """
    import json
    import os
    import signal
    import subprocess

    import pymysql
    from examples.health_wellness.profile_updates import update_profiles

    db = Database(mysql_binlog.host, mysql_binlog.port, mysql_binlog.user, mysql_binlog.password)
    project, _ = setup(tmp_path / "health", db, patients=400)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}

    def towpath(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "towpath.cli.main", *args], env=env, cwd=project.root,
                              check=True, capture_output=True, text=True, timeout=300)

    report = project.root / ".towpath/cdc/patients.json"
    job = subprocess.Popen([sys.executable, "-m", "towpath.cli.main", "cdc", "run", "cdc/patients.cdc.yaml"], env=env,
                           cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not report.exists() or json.loads(report.read_text()).get("applied_position", "-") == "-":
            assert job.poll() is None, job.communicate()  # wait for the snapshot's handoff
        assert update_profiles(db, rounds=40) > 40
        while json.loads(report.read_text()).get("batches", 0) == 0:  # streaming, then killed mid-stream
            assert job.poll() is None, job.communicate()
    finally:
        job.send_signal(signal.SIGKILL)
        job.communicate()
    done = json.loads(towpath("cdc", "run", "cdc/patients.cdc.yaml", "--until-caught-up", "--json").stdout)
    assert done["caught_up"] and not done["snapshotted"]

    conn = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password, database="health",
                           cursorclass=pymysql.cursors.DictCursor)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM patients ORDER BY patient_id")
        source = {row["patient_id"]: row for row in cur.fetchall()}
        cur.execute("SELECT patient_id FROM patients WHERE FIND_IN_SET('diabetes', conditions) AND state = 'CA' "
                    "AND plan = 'gold' ORDER BY patient_id")
        wanted = [row["patient_id"] for row in cur.fetchall()]
    lake = {row["patient_id"]: row for row in Project(project.root).catalog.read("profiles.patients").to_pylist()}
    assert lake == source
    from towpath.search import open_index

    docs = open_index(project.root, "patients").documents()
    assert {int(k) for k in docs} == set(source)
    assert all(docs[str(k)]["conditions"] == row["conditions"] and docs[str(k)]["plan"] == row["plan"]
               for k, row in source.items())
    found = json.loads(towpath("search", "patients", "conditions:diabetes AND state:CA", "--filter", "plan=gold",
                               "--limit", "100", "--json").stdout)
    assert sorted(int(hit["key"]) for hit in found["hits"]) == wanted and wanted
