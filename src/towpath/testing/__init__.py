"""Testing room: YAML mocks of tables, a harness that runs one job on them, and row comparison.

    from towpath.testing import load_mock, run_job, assert_rows_equal

    def test_top_titles():
        out = run_job("src/sparksql_write.sql", mocks=["src/mocks/some_db.source_table.yaml"],
                      params={"DATE": "2022-01-01", ...}, base=HERE, target="src/mocks/foo.results.yaml")
        assert_rows_equal(out, "src/mocks/foo.results.yaml")

The pytest plugin (`towpath.testing.plugin`, loaded through the `pytest11`
entry point) adds fixtures around these; `towpath mock` and `towpath project
test|validate` are the command-line side.
"""

from towpath.testing.check import MockProblem, MockReport, validate_mocks
from towpath.testing.compare import assert_rows_equal, rows_diff
from towpath.testing.generate import generate_mock, write_mock
from towpath.testing.harness import builtin_params, run_job, sandbox, to_arrow
from towpath.testing.mocks import FORMAT_VERSION, Mock, MockError, dump_mock, load_mock, parse_mock
from towpath.testing.runner import find_test_folders, run_project_tests
from towpath.testing.types import arrow_type, iceberg_schema, parse_type, type_string
from towpath.testing.validate import Problem, validate_project

__all__ = [
    "FORMAT_VERSION",
    "Mock",
    "MockError",
    "MockProblem",
    "MockReport",
    "Problem",
    "arrow_type",
    "assert_rows_equal",
    "builtin_params",
    "dump_mock",
    "find_test_folders",
    "generate_mock",
    "iceberg_schema",
    "load_mock",
    "parse_mock",
    "parse_type",
    "rows_diff",
    "run_job",
    "run_project_tests",
    "sandbox",
    "to_arrow",
    "type_string",
    "validate_mocks",
    "validate_project",
    "write_mock",
]
