"""pytest plugin (entry point `pytest11: towpath`): fixtures that make a job's unit test a few lines.

    from towpath.testing import assert_rows_equal

    def test_top_titles(towpath_job):
        out = towpath_job("src/sparksql_write.sql", mocks=["src/mocks/some_db.source_table.yaml"],
                          params={"DATE": "2022-01-01"}, target="src/mocks/foo.results.yaml")
        assert_rows_equal(out, towpath_job.path("src/mocks/foo.results.yaml"))

Paths are relative to the test's *workflow folder*: the nearest folder at or
above the test file that holds a `main.sch.yaml` (a generated sample keeps its
tests in `src/`, its jobs in `src/` and its mocks in `src/mocks/`), else the
test file's own folder.

Importing pyiceberg, SQLAlchemy, DuckDB and sqlglot's dialects takes a couple of
seconds once per process. When a session collects tests that use these
fixtures, the plugin imports them during collection, so each test's own time
is the job itself (see docs/benchmarks.md); other sessions pay nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

FIXTURES = ("towpath_job", "towpath_mock", "towpath_base")
"""Fixtures this plugin provides."""

WORKFLOW_MARKER = "main.sch.yaml"


def workflow_folder(test_file: Path) -> Path:
    """The folder a test's job and mock paths are relative to (see the module docstring)."""
    for folder in (test_file.parent, *test_file.parents):
        if (folder / WORKFLOW_MARKER).is_file():
            return folder
        if folder == Path(folder.anchor):
            break
    return test_file.parent


class JobRunner:
    """`towpath_job`: `run_job` bound to a test's workflow folder (and a default dialect)."""

    def __init__(self, base: Path, dialect: str = "spark") -> None:
        self.base, self.dialect = base, dialect

    def __call__(
        self,
        job: Any,
        *,
        mocks: Sequence[Any] = (),
        params: Mapping[str, str] | None = None,
        target: Any = None,
        dialect: str | None = None,
    ) -> Any:
        from towpath.testing.harness import run_job

        return run_job(job, mocks=mocks, params=params, dialect=dialect or self.dialect, base=self.base, target=target)

    def path(self, relative: str | Path) -> Path:
        """A path inside the workflow folder (for `assert_rows_equal(out, towpath_job.path(...))`)."""
        return self.base / relative

    def mock(self, relative: str | Path) -> Any:
        """Load a mock from the workflow folder."""
        from towpath.testing.mocks import load_mock

        return load_mock(self.base / relative)


@pytest.fixture
def towpath_base(request: pytest.FixtureRequest) -> Path:
    """The test's workflow folder."""
    return workflow_folder(Path(str(request.path)))


@pytest.fixture
def towpath_job(towpath_base: Path) -> JobRunner:
    """Run one job on mocks in an isolated throwaway project; see `towpath.testing.run_job`."""
    return JobRunner(towpath_base)


@pytest.fixture
def towpath_mock(towpath_base: Path) -> Any:
    """Load a mock file given relative to the workflow folder: `towpath_mock("src/mocks/db.t.yaml")`."""
    from towpath.testing.mocks import load_mock

    return lambda relative: load_mock(towpath_base / relative)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Import the heavy modules once, at collection, when some test runs jobs (see the module docstring)."""
    if any(_uses_harness(item) for item in items):
        warm_up()


def _uses_harness(item: pytest.Item) -> bool:
    """Does the test use our fixtures, or does its module import from `towpath.testing` (`run_job`, ...)?"""
    if set(FIXTURES) & set(getattr(item, "fixturenames", ())):
        return True
    module = getattr(item, "module", None)
    return module is not None and any(
        str(getattr(value, "__module__", "")).startswith("towpath.testing") for value in vars(module).values()
    )


def warm_up() -> None:
    """Import what the first `run_job` of a process needs, so its time is not charged to a test."""
    import pyarrow as pa
    import pyiceberg.catalog.sql
    import pyiceberg.io.pyarrow  # noqa: F401
    import sqlglot.dialects.duckdb
    import sqlglot.dialects.spark  # noqa: F401

    import towpath.catalog.ddl
    import towpath.engines.duckdb
    import towpath.testing.harness
    import towpath.workflows.jobs.python  # noqa: F401

    pa.array([0])  # pyarrow imports pandas (when installed) on its first conversion of Python values
