"""`towpath mock generate|validate` and `towpath project validate|test`, on real projects."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from towpath.cli.main import cli
from towpath.project import Project
from towpath.samples.recipe import TEMPLATES
from towpath.testing import generate_mock, load_mock, validate_mocks, validate_project
from towpath.types import arrow_type, iceberg_schema, parse_type

DATA = Path(__file__).parent / "data" / "topn"
TOPN_SQL = TEMPLATES / "spark-sql" / "src" / "sparksql_write.sql"
"""The spark-sql recipe's transform itself: the harness is tested on the SQL users get."""

ALL_TYPES = [
    ("b", "boolean"), ("i", "int"), ("l", "long"), ("f", "float"), ("d", "double"), ("dec", "decimal(10,2)"),
    ("day", "date"), ("tm", "time"), ("ts", "timestamp"), ("tstz", "timestamptz"), ("s", "string"), ("u", "uuid"),
    ("fx", "fixed[3]"), ("bin", "binary"), ("li", "list<int>"), ("m", "map<string,long>"),
    ("mi", "map<int,string>"), ("st", "struct<a:int,b:list<string>>"),
]
ROW = [
    True, -7, 2**40, 0.1, 1 / 3, decimal.Decimal("12.50"), dt.date(2022, 1, 1), dt.time(12, 30, 0, 123456),
    dt.datetime(2022, 1, 1, 10, 0, 0, 1), dt.datetime(2022, 1, 1, 10, 0, tzinfo=dt.UTC), 'héllo, "world"',
    uuid.UUID("123e4567-e89b-12d3-a456-426614174000").bytes, b"abc", b"\x00\xff", [1, None, 3],
    [("a", 1), ("b", None)], [(1, "x")], {"a": 1, "b": ["x", None]},
]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.init(tmp_path / "proj", name="test")


@pytest.fixture
def all_types(project: Project) -> pa.Table:
    """db.all_types in the project's catalog: every Iceberg type, one full row and one of nulls."""
    schema = pa.schema([pa.field(n, arrow_type(parse_type(k))) for n, k in ALL_TYPES])
    data = pa.Table.from_arrays(
        [pa.array([value, None], type=field.type) for value, field in zip(ROW, schema, strict=True)], schema=schema
    )
    project.catalog.ensure_namespace("db")
    project.catalog.iceberg.create_table("db.all_types", schema=iceberg_schema(ALL_TYPES))
    project.catalog.write("db.all_types", data)
    return data


def run(project: Project, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(project.root), *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_generate_then_load_gives_back_the_same_arrow_data_and_types(project: Project, all_types: pa.Table) -> None:
    mock = load_mock(_write(project.root / "m.yaml", generate_mock(project, "db.all_types")))
    assert mock.columns == ALL_TYPES
    assert mock.data.schema == all_types.schema
    assert mock.data.to_pylist() == all_types.to_pylist()


def test_mock_generate_cli_writes_a_readable_file_that_validates(project: Project, all_types: pa.Table) -> None:
    code, out = run(project, "mock", "generate", "db.all_types", "-o", str(project.root / "mocks" / "db.all_types.yaml"))
    assert code == 0 and "wrote" in out
    text = (project.root / "mocks" / "db.all_types.yaml").read_text()
    assert text.startswith("# Mock of db.all_types for unit tests (towpath mock format v1).\n")
    assert '  - {name: dec, type: "decimal(10,2)"}\n' in text
    assert '  - [true, -7, 1099511627776, 0.1, 0.3333333333333333, "12.50", 2022-01-01, 12:30:00.123456,' in text
    code, out = run(project, "mock", "validate", str(project.root / "mocks" / "db.all_types.yaml"))
    assert code == 0 and "matches db.all_types" in out


def test_mock_generate_with_columns_where_and_rows(project: Project, all_types: pa.Table) -> None:
    code, out = run(project, "mock", "generate", "db.all_types", "--columns", "s,i", "--where", "i = -7", "--rows", "5")
    assert code == 0
    assert "  - {name: s, type: string}\n  - {name: i, type: int}\n" in out
    assert out.rstrip().endswith('  - ["héllo, \\"world\\"", -7]')
    assert "from 1 rows of db.all_types where i = -7." in out


def test_mock_generate_bad_input_is_a_clear_error(project: Project, all_types: pa.Table) -> None:
    from towpath.errors import SpecError, TableNotFoundError

    with pytest.raises(TableNotFoundError, match="Table 'db.all_typo' does not exist. Did you mean 'db.all_types'?"):
        generate_mock(project, "db.all_typo")
    with pytest.raises(SpecError, match="--columns: table db.all_types has no column 'dy'; did you mean 'd'?"):
        generate_mock(project, "db.all_types", columns=["dy"])


def test_mock_validate_reports_every_problem_at_its_line_and_exits_1(project: Project, all_types: pa.Table) -> None:
    path = _write(project.root / "db.all_types.yaml", textwrap.dedent("""\
        table: db.all_types
        columns:
          - {name: i, type: long}
          - {name: s, type: string}
          - {name: extra, type: int}
        rows:
          - [1, x, 2]
          - [one, x, 3]
        """))
    code, out = run(project, "mock", "validate", str(path))
    assert code == 1
    assert f"{path}:3: column 'i' is long in the mock but int in db.all_types" in out
    assert f"{path}:5: column 'extra' is not in db.all_types" in out
    assert f"{path}:2: columns of db.all_types missing from the mock: b (boolean), l (long)" in out
    assert f"{path}:8: rows[1].i: expected an integer, got 'one' (column type long)" in out
    [report] = validate_mocks(project, [path])
    assert not report.ok and len(report.problems) == 4


def test_mock_validate_names_a_missing_table(project: Project, all_types: pa.Table) -> None:
    path = _write(project.root / "x.yaml", "table: db.all_type\ncolumns:\n  - {name: i, type: int}\nrows: []\n")
    code, out = run(project, "mock", "validate", str(path), "--json")
    assert code == 1
    assert "Table 'db.all_type' does not exist. Did you mean 'db.all_types'?" in out


# -- project validate -----------------------------------------------------------------------------

WORKFLOW = """\
id: wf
params:
  TARGET_DB: foo
  TARGET_TABLE: dataflow_sample_results
  SOURCE_TABLE: some_db.source_table
steps:
  - job: {id: ddl, type: sql, script: ddl.sql}
  - job: {id: write, type: sql, script: src/write.sql}
  - job: {id: broken, type: sql, script: src/broken.sql}
"""


def test_project_validate_finds_syntax_errors_unknown_tables_and_columns_in_one_run(project: Project) -> None:
    from towpath.samples import load_source_table

    load_source_table(project, rows_per_day=2_000)
    folder = project.root / "wf"
    shutil.copytree(DATA / "src", folder / "src")
    sql = TOPN_SQL.read_text()
    (folder / "src" / "write.sql").write_text(
        sql.replace("        , country_code\n        , ROUND", "        , countrycode\n        , ROUND", 1)
        .replace("FROM ${SOURCE_TABLE}", "FROM some_db.sauce_table")
    )
    (folder / "src" / "broken.sql").write_text("SELECT 1;\n\nSELECT title_id FROM WHERE;\n")
    (folder / "ddl.sql").write_text(DDL)
    (folder / "main.sch.yaml").write_text(WORKFLOW)
    write_sql = folder / "src" / "write.sql"
    problems = [str(p) for p in validate_project(project)]
    assert f"{write_sql}:6: unknown column 'countrycode' (not in some_db.sauce_table)" not in problems  # table unknown
    assert f"{write_sql}:8: unknown table 'some_db.sauce_table'; did you mean 'some_db.source_table'?" in problems
    assert any(p.startswith(f"{folder / 'src' / 'broken.sql'}:3: syntax error") for p in problems)
    # Mocks of tables that exist are compared with them.
    assert any("some_db.source_table.yaml:3: columns of some_db.source_table missing" in p for p in problems)

    (folder / "src" / "write.sql").write_text(sql.replace("        , country_code\n        , ROUND",
                                                          "        , countrycode\n        , ROUND", 1))
    code, out = run(project, "project", "validate")
    assert code == 1
    assert f"{write_sql}:6: unknown column 'countrycode' (not in source_table); did you mean 'country_code'?" in out
    assert f"{folder / 'src' / 'broken.sql'}:3: syntax error" in out
    assert "problems found" in out


def test_project_validate_knows_tables_from_the_workflows_ddl_and_mocks(project: Project) -> None:
    # Nothing exists in the catalog yet: the target comes from the DDL, the source from its mock.
    folder = project.root / "wf"
    shutil.copytree(DATA / "src", folder / "src")
    shutil.copy(TOPN_SQL, folder / "src" / "write.sql")
    (folder / "ddl.sql").write_text(DDL)
    (folder / "main.sch.yaml").write_text(WORKFLOW.replace("  - job: {id: broken, type: sql, script: src/broken.sql}\n",
                                                           ""))
    code, out = run(project, "project", "validate")
    assert (code, out.strip()) == (0, "✓ every workflow, SQL script and mock is valid")


def test_project_validate_reports_workflow_spec_errors(project: Project) -> None:
    (project.root / "main.sch.yaml").write_text("id: wf\nsteps:\n  - job: {id: a, type: sqll, sql: SELECT 1}\n")
    [problem] = [str(p) for p in validate_project(project)]
    assert problem.startswith(f"{project.root / 'main.sch.yaml'}:3:24: steps[0].job.type: unknown job type 'sqll'; "
                              "expected one of: audit, cdc, hwm, metadata,")


DDL = """\
CREATE TABLE IF NOT EXISTS ${TARGET_DB}.dataflow_sample_results (
  title_id INT, country_code STRING, title_rank INT, view_hours DOUBLE
) PARTITIONED BY (date DATE) STORED AS ICEBERG;
"""


# -- project test ---------------------------------------------------------------------------------

PASSING = '''
from towpath.testing import assert_rows_equal

PARAMS = {"DATE": "2022-01-01", "TARGET_DB": "foo", "TARGET_TABLE": "dataflow_sample_results",
          "SOURCE_TABLE": "some_db.source_table"}


def test_top_titles(towpath_job):
    out = towpath_job("src/sparksql_write.sql", mocks=["src/mocks/some_db.source_table.yaml"], params=PARAMS,
                      target="src/mocks/foo.dataflow_sample_results.yaml")
    assert_rows_equal(out, towpath_job.path("src/mocks/foo.dataflow_sample_results.yaml"))
'''


def test_project_test_runs_every_workflow_folder_through_the_pytest_plugin(project: Project) -> None:
    good, bad = project.root / "good", project.root / "bad"
    for folder in (good, bad):
        shutil.copytree(DATA / "src", folder / "src")
        shutil.copy(TOPN_SQL, folder / "src" / "sparksql_write.sql")
        (folder / "main.sch.yaml").write_text("id: x\nsteps: []\n")
        (folder / "src" / "test_sparksql_write.py").write_text(PASSING)
    expected = bad / "src" / "mocks" / "foo.dataflow_sample_results.yaml"
    expected.write_text(expected.read_text().replace("[33333333, US, 3, 1.0,", "[33333333, US, 3, 1.5,"))

    command = [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "project", "test"]
    passing = subprocess.run([*command, "good"], capture_output=True, text=True, cwd=project.root, check=False)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "1 passed" in passing.stdout

    both = subprocess.run([*command, "-k", "top_titles", "--", "-q"], capture_output=True, text=True,
                          cwd=project.root, check=False)
    assert both.returncode == 1, both.stdout + both.stderr
    assert "1 failed, 1 passed" in both.stdout
    assert "1 missing (expected but not in actual):" in both.stdout
    assert "{title_id: 33333333, country_code: 'US', title_rank: 3, view_hours: 1.5," in both.stdout

    as_json = subprocess.run([*command, "--json"], capture_output=True, text=True, cwd=project.root, check=False)
    assert as_json.returncode == 1 and "1 failed, 1 passed" in as_json.stderr  # pytest's report goes to stderr
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["counts"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 0}
    [failed] = [t for t in report["tests"] if t["outcome"] == "failed"]
    assert failed["name"] == "test_top_titles" and "bad" in failed["module"]


def test_project_test_without_tests_says_where_it_looked(project: Project) -> None:
    code, out = run(project, "project", "test")
    assert code == 1
    assert f"error: no unit tests found under {project.root} (looked for src/test_*.py" in out


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
