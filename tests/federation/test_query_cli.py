"""`towpath query`: formats, files, the lake alone, and mistakes as one clean line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))

from cli_helpers import towpath

from towpath.project import Project

JOIN = ("SELECT p.state, count(*) AS claims FROM clinic.patients p JOIN ehr.claims c ON c.patient_id = p.id "
        "WHERE p.id <= 30 GROUP BY p.state ORDER BY p.state")


def test_csv_to_stdout(fed_project: Project) -> None:
    result = towpath("-C", fed_project.root, "query", JOIN, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ['"state","claims"', '"CA",20', '"NY",20', '"TX",20']


def test_json_and_parquet_files(fed_project: Project) -> None:
    out = fed_project.root / "out.json"
    assert towpath("-C", fed_project.root, "query", JOIN, "-o", out).exit_code == 0
    assert json.loads(out.read_text()) == [{"state": s, "claims": 20} for s in ("CA", "NY", "TX")]
    parquet = fed_project.root / "out.parquet"
    assert towpath("-C", fed_project.root, "query", JOIN, "-o", parquet).exit_code == 0
    assert pq.read_table(parquet).to_pydict() == {"state": ["CA", "NY", "TX"], "claims": [20, 20, 20]}


def test_table_format(fed_project: Project) -> None:
    result = towpath("-C", fed_project.root, "query", "SELECT id, name FROM clinic.patients ORDER BY id",
                     "--format", "table", "--limit", "3")
    assert result.exit_code == 0, result.stderr
    assert "patient-3" in result.stdout and "patient-4" not in result.stdout
    assert "997 more rows" in result.stderr


def test_parquet_needs_a_file(fed_project: Project) -> None:
    result = towpath("-C", fed_project.root, "query", "SELECT 1 AS x", "--format", "parquet")
    assert result.exit_code == 1 and "-o FILE.parquet" in result.stderr


def test_a_project_without_connections_queries_the_lake(project: Project) -> None:
    project.engine.run_script("CREATE TABLE claims.history (patient_id INT, amount DOUBLE) USING iceberg")
    project.engine.write("claims.history", pa.table({"patient_id": pa.array([1, 1, 2], pa.int32()),
                                                     "amount": [1.5, 2.5, 4.0]}), mode="append")
    result = towpath("-C", project.root, "query", "SELECT patient_id, sum(amount) AS paid FROM claims.history "
                     "GROUP BY patient_id ORDER BY patient_id", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{"patient_id": 1, "paid": 4.0}, {"patient_id": 2, "paid": 4.0}]


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT * FROM clinic.patiens", "Table 'clinic.patiens' does not exist. Did you mean 'clinic.patients'"),
    ("SELECT * FROM claims.histry", "Table 'claims.histry' does not exist."),
    ("SELEC 1", "syntax error"),
])
def test_mistakes_are_one_line(fed_project: Project, sql: str, message: str) -> None:
    result = towpath("-C", fed_project.root, "query", sql)
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_json_flag_prints_rows_and_errors_as_json(fed_project: Project) -> None:
    result = towpath("-C", fed_project.root, "query", "SELECT id FROM clinic.patients WHERE id < 3 ORDER BY id", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == [{"id": 1}, {"id": 2}]
    failed = towpath("-C", fed_project.root, "query", "SELECT * FROM clinic.nope", "--json")
    assert failed.exit_code == 1 and "does not exist" in json.loads(failed.stdout)["error"]
