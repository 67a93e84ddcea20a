"""`run_project_tests`: run a project's unit tests with pytest, in a subprocess.

A subprocess, not `pytest.main()` in this process: user test modules are
imported fresh on every run (no stale modules from an earlier run in the same
interpreter), their `sys.path` and fixtures cannot leak into towpath, and the
exit code is exactly pytest's. Output is streamed as it comes; the outcome of
each test is read back from pytest's JUnit XML report, so a script gets it as data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from towpath.errors import SpecError

if TYPE_CHECKING:
    from towpath.project import Project

__all__ = ["ENGINE_VARIABLE", "TestOutcome", "TestRun", "find_test_folders", "run_project_tests"]

ENGINE_VARIABLE = "TOWPATH_TEST_ENGINE"
"""Environment variable naming the engine `run_job` uses (`towpath project test --engine spark` sets it)."""


@dataclass(frozen=True)
class TestOutcome:
    """One test of a `project test` run."""

    __test__ = False  # not a pytest test class

    module: str
    """The test module as pytest names it in its report, e.g. `src.test_sparksql_write`."""
    name: str
    """The test function, e.g. `test_top_titles[2022-01-01]`."""
    outcome: str
    """passed | failed | error | skipped"""
    message: str | None = None


@dataclass(frozen=True)
class TestRun:
    """What `run_project_tests` ran: pytest's exit code and every test's outcome."""

    __test__ = False

    exit_code: int
    tests: list[TestOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def counts(self) -> dict[str, int]:
        """How many tests passed, failed, errored and were skipped."""
        counts = dict.fromkeys(("passed", "failed", "error", "skipped"), 0)
        for test in self.tests:
            counts[test.outcome] += 1
        return counts


def find_test_folders(project: Project) -> list[Path]:
    """Every `src/` folder under the project that holds `test_*.py` files (one per sample workflow)."""
    from towpath.testing.validate import SKIPPED_DIRS

    folders = set()
    for test in project.root.rglob("test_*.py"):
        parts = test.relative_to(project.root).parts
        if test.parent.name == "src" and not any(p in SKIPPED_DIRS or p.startswith(".") for p in parts[:-1]):
            folders.add(test.parent)
    return sorted(folders)


def run_project_tests(
    project: Project,
    paths: Sequence[Path | str] = (),
    *,
    keyword: str | None = None,
    extra_args: Sequence[str] = (),
    quiet: bool = False,
    engine: str | None = None,
    output: TextIO | None = None,
) -> TestRun:
    """Run pytest on `paths` (default: `find_test_folders`) and return its exit code and outcomes.

    pytest's own report streams to this process's stdout, or is written to
    `output` once pytest ends (`towpath project test --json` sends it to stderr).

    `engine` (`duckdb`, `spark`) is the engine `run_job` uses in those tests unless a
    test names one: the same transpiled SQL checked on both engines.

    Raises:
        SpecError: a given path does not exist, or the project has no unit tests.
    """
    targets = [project.path(p) for p in paths] if paths else find_test_folders(project)
    for target in targets:
        if not target.exists():
            raise SpecError(f"no such test file or folder: {target}")
    if not targets:
        raise SpecError(
            f"no unit tests found under {project.root} (looked for src/test_*.py in each workflow folder); "
            "generate a sample with `towpath sample workflow RECIPE` to see one"
        )
    # importlib mode: every sample keeps its test in src/test_<transform>.py, so two samples of one
    # recipe have test files with the same name, which pytest's default import mode refuses.
    command = [sys.executable, "-m", "pytest", *(str(t) for t in targets), "-p", "no:cacheprovider",
               "--import-mode=importlib"]
    if keyword:
        command += ["-k", keyword]
    if quiet:
        command.append("-q")
    command += list(extra_args)
    # --rootdir keeps pytest from adopting a parent folder's config (e.g. a repo's pyproject.toml).
    command += ["--rootdir", str(project.root)]
    env = {**os.environ, ENGINE_VARIABLE: engine} if engine else None
    with tempfile.TemporaryDirectory(prefix="towpath-test-") as tmp:
        report = Path(tmp) / "junit.xml"
        ran = subprocess.run([*command, f"--junitxml={report}"], cwd=project.root, check=False, env=env, text=True,
                             capture_output=output is not None)
        if output is not None:
            output.write(ran.stdout + ran.stderr)
        return TestRun(ran.returncode, _outcomes(report) if report.is_file() else [])


def _outcomes(report: Path) -> list[TestOutcome]:
    """Each `<testcase>` of a JUnit XML report as a `TestOutcome`."""
    outcomes = []
    for case in ET.parse(report).getroot().iter("testcase"):
        problem = next((found for tag in ("failure", "error", "skipped") if (found := case.find(tag)) is not None), None)
        outcome = "passed" if problem is None else {"failure": "failed"}.get(problem.tag, problem.tag)
        message = (problem.get("message") or "").strip().splitlines() if problem is not None else []
        outcomes.append(TestOutcome(case.get("classname") or "", case.get("name") or "", outcome,
                                    message[0] if message else None))
    return outcomes
