"""`validate_project`: a static check of every workflow, SQL script and mock of a project.

Nothing runs and nothing is written. Every problem is reported (not just the
first), each as `file:line[:column]: message`:

* every `*.sch.yaml` loads (main, daily, backfill; undefined `${...}` allowed,
  since parameters may come from the command line);
* every main workflow passes the preflight a run does before its first step
  (`towpath.workflows.preflight.check_workflow`: scripts, DDL, tables, columns,
  callables, marks), with one difference: a table described by a mock in the
  workflow's folder counts as existing (a source a job fills on its first run
  exists nowhere else yet);
* every mock file (`mocks/*.yaml`) parses, and matches its table when the table exists;
* every `*.move.yaml`, `*.stream.yaml` and `*.cdc.yaml` that no workflow step runs loads, and
  its lineage is recorded (`towpath.lineage.standalone_lineage`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from towpath.errors import ParameterError, SpecError, SpecErrors, TowpathError
from towpath.lineage import STANDALONE_SUFFIXES

if TYPE_CHECKING:
    from towpath.project import Project

__all__ = ["SKIPPED_DIRS", "Problem", "validate_project"]

_JOB_FILE_FIELDS = {"move": "file", "stream": "spec", "cdc": "spec"}
"""Job type -> its field naming the job file it runs (that file is not also a standalone job)."""

SKIPPED_DIRS = frozenset({".towpath", ".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache"})
"""Folders never searched for workflows and mocks."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem at a line (and column) of a file."""

    file: Path
    line: int | None
    message: str
    col: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        if self.line and self.col:
            where += f":{self.col}"
        return f"{where}: {self.message}"


def validate_project(project: Project) -> list[Problem]:
    """Check every workflow, SQL script and mock under the project; return all problems, sorted."""
    checker = _Checker(project)
    for path in _files(project.root, "*.sch.yaml"):
        checker.workflow(path)
    for path in _files(project.root, "*.yaml"):
        if any(path.name.endswith(suffix) for suffix in STANDALONE_SUFFIXES) and path.resolve() not in checker.run_files:
            checker.standalone(path)
    for recorded in project.state.lineage.workflows():  # a workflow whose file is gone feeds nothing any more
        if recorded.workflow_id not in checker.seen:
            project.state.lineage.forget(recorded.workflow_id)
    for path in _files(project.root, "*.yaml"):
        if "mocks" in path.relative_to(project.root).parts[:-1]:
            checker.mock(path)
    return sorted(set(checker.problems), key=lambda p: (str(p.file), p.line or 0, p.col or 0, p.message))


def _files(root: Path, pattern: str) -> Iterator[Path]:
    for path in sorted(root.rglob(pattern)):
        if not any(part in SKIPPED_DIRS or part.startswith(".") for part in path.relative_to(root).parts[:-1]):
            yield path


@dataclass
class _Checker:
    project: Project
    problems: list[Problem] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    """Ids of the main workflows found (their lineage is refreshed; others' is forgotten)."""
    run_files: set[Path] = field(default_factory=set)
    """Move, stream and CDC files a workflow step runs (their lineage is the step's)."""

    def add(self, error: SpecError) -> None:
        where = f"{error.field}: " if error.field else ""
        file = Path(error.file) if error.file is not None else Path("?")
        self.problems.append(Problem(file, error.line, f"{where}{error.msg}", error.col))

    def add_error(self, error: TowpathError, default_file: Path) -> None:
        for item in error.errors if isinstance(error, SpecErrors) else [error]:
            if isinstance(item, SpecError):
                self.add(item if item.file is not None else SpecError(
                    item.msg, file=default_file, line=item.line, col=item.col, field=item.field))
            else:
                self.add(SpecError(str(item), file=getattr(item, "file", None) or default_file,
                                   line=getattr(item, "line", None)))

    def workflow(self, path: Path) -> None:
        from towpath.lineage import WorkflowLineage, save_static
        from towpath.workflows.loader import load_workflow
        from towpath.workflows.params import builtin_params
        from towpath.workflows.preflight import check_workflow
        from towpath.workflows.spec import WorkflowSpec

        config = self.project.config
        params = {
            **config.params,
            **builtin_params(execution_date=dt.date.today().isoformat(), timezone=config.timezone,
                             catalog=config.name, run_id="validate"),
        }
        try:
            spec = load_workflow(path, params, strict=False)
            if not isinstance(spec, WorkflowSpec):
                return
            self.seen.add(spec.id)
            for placed in spec.jobs:
                name = getattr(placed.job, _JOB_FILE_FIELDS.get(placed.job.type, ""), None)
                if isinstance(name, str):
                    self.run_files.add(spec.relative(name).resolve())
            lineage = WorkflowLineage(spec.id, spec.path, spec.owner)
            problems = check_workflow(self.project, spec, strict=False, described=self.mocked_tables(path.parent),
                                      lineage=lineage)
            for problem in problems:
                self.add(problem)
            if not problems:
                save_static(self.project.state, lineage)  # validating refreshes the workflow's lineage
        except TowpathError as exc:
            self.add_error(exc, path)

    def standalone(self, path: Path) -> None:
        """A move, stream or CDC file run on its own: it loads, and its lineage is recorded."""
        from towpath.lineage import save_static, standalone_lineage
        from towpath.sql import CatalogSchemas

        try:
            lineage = standalone_lineage(path, self.project.root, CatalogSchemas(self.project.catalog),
                                         project=self.project.config.name)
        except ParameterError:
            return  # a `${VAR}` given only at run time (a DSN from the environment): nothing to name yet
        except TowpathError as exc:
            self.add_error(exc, path)
            return
        self.seen.add(lineage.workflow_id)
        save_static(self.project.state, lineage)

    def mocked_tables(self, folder: Path) -> dict[str, dict[str, str]]:
        """Tables the workflow's mocks describe: `db.table` -> columns.

        A source table that a job fills on the first run (like a sample's synthetic
        source) exists nowhere before that run; its mock is the shape the job
        expects, and `towpath mock validate` compares the two once it exists.
        """
        from towpath.testing.mocks import check_mock

        out: dict[str, dict[str, str]] = {}
        for mock_path in _files(folder, "*.yaml"):
            if "mocks" in mock_path.relative_to(folder).parts[:-1]:
                mock, _ = check_mock(mock_path)
                if mock is not None:
                    out[mock.table] = {name.lower(): kind for name, kind in mock.columns}
        return out

    def mock(self, path: Path) -> None:
        from towpath.testing.check import validate_mocks

        if "{{" in path.name:
            return  # a recipe template, not a mock yet
        report = validate_mocks(self.project, [path])[0]
        table_exists = report.table is None or self.project.catalog.exists(report.table)
        for problem in report.problems:
            if table_exists or problem.row is not None:  # a table a first run creates cannot be compared yet
                self.problems.append(Problem(path, problem.line, problem.message))
