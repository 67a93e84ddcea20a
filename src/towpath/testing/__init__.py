"""Testing room: YAML mocks of tables, a harness that runs one job on them, and row comparison.

    from towpath.testing import load_mock, run_job, assert_rows_equal

    def test_top_titles():
        out = run_job("src/sparksql_write.sql", mocks=["src/mocks/some_db.source_table.yaml"],
                      params={"DATE": "2022-01-01", ...}, base=HERE, target="src/mocks/foo.results.yaml")
        assert_rows_equal(out, "src/mocks/foo.results.yaml")

The pytest plugin (`towpath.testing.plugin`, loaded through the `pytest11`
entry point) adds fixtures around these; `towpath mock` and `towpath project
test|validate` are the command-line side.

Names are imported on first use (PEP 562 `__getattr__`): the pytest plugin is loaded
by every pytest session in the environment, and importing pyiceberg and pyarrow up
front would add ~0.6 s to each of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from towpath.registry import lazy_exports

if TYPE_CHECKING:
    from towpath.testing.check import MockProblem, MockReport, validate_mocks
    from towpath.testing.compare import assert_rows_equal, rows_diff
    from towpath.testing.generate import generate_mock, write_mock
    from towpath.testing.harness import job_params, run_job, sandbox
    from towpath.testing.mock_dump import FORMAT_VERSION, dump_mock
    from towpath.testing.mocks import Mock, MockError, load_mock, parse_mock
    from towpath.testing.runner import TestOutcome, TestRun, find_test_folders, run_project_tests
    from towpath.testing.validate import Problem, validate_project
    from towpath.types import arrow_type, iceberg_schema, parse_type, type_string

_EXPORTS: dict[str, str] = {
    "MockProblem": "towpath.testing.check",
    "MockReport": "towpath.testing.check",
    "validate_mocks": "towpath.testing.check",
    "assert_rows_equal": "towpath.testing.compare",
    "rows_diff": "towpath.testing.compare",
    "generate_mock": "towpath.testing.generate",
    "write_mock": "towpath.testing.generate",
    "job_params": "towpath.testing.harness",
    "run_job": "towpath.testing.harness",
    "sandbox": "towpath.testing.harness",
    "find_test_folders": "towpath.testing.runner",
    "run_project_tests": "towpath.testing.runner",
    "TestOutcome": "towpath.testing.runner",
    "TestRun": "towpath.testing.runner",
    "Problem": "towpath.testing.validate",
    "validate_project": "towpath.testing.validate",
    "FORMAT_VERSION": "towpath.testing.mock_dump",
    "Mock": "towpath.testing.mocks",
    "MockError": "towpath.testing.mocks",
    "dump_mock": "towpath.testing.mock_dump",
    "load_mock": "towpath.testing.mocks",
    "parse_mock": "towpath.testing.mocks",
    "arrow_type": "towpath.types",
    "iceberg_schema": "towpath.types",
    "parse_type": "towpath.types",
    "type_string": "towpath.types",
}
"""Public name -> the module that defines it."""

__all__ = [
    "FORMAT_VERSION",
    "Mock",
    "MockError",
    "MockProblem",
    "MockReport",
    "Problem",
    "TestOutcome",
    "TestRun",
    "arrow_type",
    "assert_rows_equal",
    "dump_mock",
    "find_test_folders",
    "generate_mock",
    "iceberg_schema",
    "job_params",
    "load_mock",
    "parse_mock",
    "parse_type",
    "rows_diff",
    "run_job",
    "run_project_tests",
    "sandbox",
    "type_string",
    "validate_mocks",
    "validate_project",
    "write_mock",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

