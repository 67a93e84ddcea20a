"""`validate_mocks`: check mock files against the live tables they stand for.

A mock that drifted from its table makes a unit test pass on data production
never sees, so every difference is reported, each at its line: a missing
table (with close names), columns the table has and the mock lacks, columns the
mock has and the table lacks, declared types that differ from the table's, and
values that do not parse as their declared type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from towpath.errors import TableNotFoundError
from towpath.testing.mocks import check_mock
from towpath.types import parse_type, type_string

if TYPE_CHECKING:
    from towpath.project import Project

__all__ = ["MockProblem", "MockReport", "validate_mocks"]


@dataclass(frozen=True)
class MockProblem:
    """One thing wrong with a mock, at a line of its file."""

    line: int | None
    message: str
    column: str | None = None
    row: int | None = None


@dataclass
class MockReport:
    """What `validate_mocks` found in one file."""

    path: Path
    table: str | None
    problems: list[MockProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """Problems as `file:line: message`."""
        return [f"{self.path}:{p.line}: {p.message}" if p.line else f"{self.path}: {p.message}" for p in self.problems]


def validate_mocks(project: Project, paths: Iterable[Path | str]) -> list[MockReport]:
    """Check every mock file in `paths` against the project's catalog; one report per file."""
    return [_validate(project, Path(p)) for p in paths]


def _validate(project: Project, path: Path) -> MockReport:
    mock, errors = check_mock(path)
    if mock is None:
        first = errors[0]
        return MockReport(path, None, [MockProblem(first.line, first.msg if first.field is None
                                                   else f"{first.field}: {first.msg}")])
    report = MockReport(path, mock.table)
    try:
        schema = project.catalog.table(mock.table).schema()
    except TableNotFoundError as exc:
        report.problems.append(MockProblem(2, str(exc)))
        schema = None
    if schema is not None:
        table_types = {f.name.lower(): (f.name, type_string(f.field_type)) for f in schema.fields}
        declared = {name.lower() for name, _ in mock.columns}
        for (name, kind), line in zip(mock.columns, mock.column_lines, strict=True):
            actual = table_types.get(name.lower())
            if actual is None:
                known = ", ".join(n for n, _ in table_types.values())
                report.problems.append(MockProblem(line, f"column '{name}' is not in {mock.table} (columns: {known})",
                                                   column=name))
            elif type_string(parse_type(kind)) != actual[1]:
                report.problems.append(MockProblem(
                    line, f"column '{name}' is {kind} in the mock but {actual[1]} in {mock.table}", column=name))
        missing = [f"{name} ({kind})" for lower, (name, kind) in table_types.items() if lower not in declared]
        if missing:
            report.problems.append(MockProblem(
                _columns_line(mock.column_lines),
                f"columns of {mock.table} missing from the mock: {', '.join(missing)} "
                f"(a mock stands for the whole table; add them, with null values if the job does not read them)"))
    for error in errors:
        report.problems.append(MockProblem(error.line, f"{error.field}: {error.msg}", column=error.column, row=error.row))
    return report


def _columns_line(lines: tuple[int, ...]) -> int | None:
    """The line of the `columns:` key: just above the first column entry."""
    return lines[0] - 1 if lines else None
