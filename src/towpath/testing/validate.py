"""`validate_project`: a static check of every workflow, SQL script and mock of a project.

Nothing runs and nothing is written. Every problem is reported (not just the
first), each as `file:line: message`:

* every `*.sch.yaml` loads (main, daily, backfill; undefined `${...}` allowed,
  since parameters may come from the command line);
* every SQL script a `sql` job runs parses in the job's dialect;
* every table a script reads or writes (FROM, JOIN, INSERT targets; CTE names
  and unqualified view names excluded) exists in the catalog, is created by a
  `CREATE TABLE` of the same workflow, or is described by a mock in the
  workflow's folder (a source a job fills on its first run exists nowhere else yet);
* every column a query names exists in the table, CTE or subquery it comes
  from (schemas from the catalog and from the workflow's DDL);
* every mock file (`mocks/*.yaml`) parses, and matches its table when the table exists.

Column resolution walks sqlglot's scopes itself rather than calling
`optimizer.qualify`: `qualify` stops at the first unknown column, and a report
that shows one problem per run makes users run it ten times.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from towpath.errors import SpecErrors, TowpathError

if TYPE_CHECKING:
    from towpath.project import Project

__all__ = ["SKIPPED_DIRS", "Problem", "validate_project"]

SKIPPED_DIRS = frozenset({".towpath", ".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache"})
"""Folders never searched for workflows and mocks."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem at a line of a file."""

    file: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


def validate_project(project: Project) -> list[Problem]:
    """Check every workflow, SQL script and mock under the project; return all problems, sorted."""
    checker = _Checker(project)
    for path in _files(project.root, "*.sch.yaml"):
        checker.workflow(path)
    for path in _files(project.root, "*.yaml"):
        if "mocks" in path.relative_to(project.root).parts[:-1]:
            checker.mock(path)
    return sorted(set(checker.problems), key=lambda p: (str(p.file), p.line or 0, p.message))


def _files(root: Path, pattern: str) -> Iterator[Path]:
    for path in sorted(root.rglob(pattern)):
        if not any(part in SKIPPED_DIRS or part.startswith(".") for part in path.relative_to(root).parts[:-1]):
            yield path


@dataclass
class _Sql:
    """One SQL script of a workflow, parsed."""

    file: Path
    dialect: str
    statements: list[Any]


@dataclass
class _Checker:
    project: Project
    problems: list[Problem] = field(default_factory=list)
    _catalog_tables: dict[str, dict[str, str]] | None = None

    # -- inputs -----------------------------------------------------------------------------

    def add(self, file: Path | str | None, line: int | None, message: str) -> None:
        self.problems.append(Problem(Path(file) if file is not None else Path("?"), line, message))

    def add_error(self, error: TowpathError, default_file: Path) -> None:
        errors = error.errors if isinstance(error, SpecErrors) else [error]
        for item in errors:
            file = getattr(item, "file", None) or default_file
            line = getattr(item, "line", None)
            msg = getattr(item, "msg", None) or str(item)
            where = getattr(item, "field", None)
            self.add(file, line, f"{where}: {msg}" if where else msg)

    def catalog_tables(self) -> dict[str, dict[str, str]]:
        """`db.table` -> {column (lower case) -> type} for every table in the catalog."""
        if self._catalog_tables is None:
            tables: dict[str, dict[str, str]] = {}
            catalog = self.project.catalog
            for ident in catalog.list_tables():
                schema = catalog.table(ident).schema()
                tables[ident] = {f.name.lower(): str(f.field_type) for f in schema.fields}
            self._catalog_tables = tables
        return self._catalog_tables

    # -- workflows --------------------------------------------------------------------------

    def workflow(self, path: Path) -> None:
        from towpath.workflows.jobs.sql import SqlJobSpec
        from towpath.workflows.loader import load_workflow
        from towpath.workflows.params import builtin_params
        from towpath.workflows.spec import WorkflowSpec

        config = self.project.config
        params = {
            **config.params,
            **builtin_params(execution_date=dt.date.today().isoformat(), timezone=config.timezone,
                             catalog=config.name, run_id="validate"),
        }
        try:
            spec = load_workflow(path, params, strict=False)
        except TowpathError as exc:
            self.add_error(exc, path)
            return
        if not isinstance(spec, WorkflowSpec):
            return
        scripts = []
        for placed in spec.jobs:
            job = placed.job
            if isinstance(job, SqlJobSpec):
                script = self.script(spec, job, path)
                if script is not None:
                    scripts.append(script)
        created = {**self.mocked_tables(path.parent), **self.created_tables(scripts)}
        for script in scripts:
            self.references(script, created)

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

    def script(self, spec: Any, job: Any, workflow: Path) -> _Sql | None:
        from towpath.config.params import substitute_script
        from towpath.engines.script import parse_script
        from towpath.workflows.loader import job_params

        params = job_params(spec, job)
        dialect = job.dialect or self.project.config.dialect
        if job.script:
            file = spec.relative(job.script)
            if "${" in job.script:
                return None  # the script's name itself comes from a parameter given at run time
            try:
                raw = file.read_text()
            except OSError:
                self.add(workflow, None, f"job '{job.id}': script not found: {file}")
                return None
        else:
            file, raw = workflow, job.sql or ""
        try:
            text = substitute_script(raw, _KeepUnknown(params), file=file)
            statements = parse_script(text, dialect=dialect, file=file)
        except TowpathError as exc:
            self.add_error(exc, file)
            return None
        return _Sql(file, dialect, statements)

    def created_tables(self, scripts: list[_Sql]) -> dict[str, dict[str, str]]:
        """Tables the workflow's DDL creates: `db.table` -> columns (including declared partition columns)."""
        created: dict[str, dict[str, str]] = {}
        for script in scripts:
            for statement in script.statements:
                if statement.type != "create_table":
                    continue
                target = statement.expression.find(exp.Table)
                if target is None or not target.db:
                    continue
                columns = {c.name.lower(): c.args["kind"].sql() if c.args.get("kind") else "unknown"
                           for c in statement.expression.find_all(exp.ColumnDef)}
                created[_ident(target)] = columns
        return created

    # -- references -------------------------------------------------------------------------

    def references(self, script: _Sql, created: dict[str, dict[str, str]]) -> None:
        known = {**self.catalog_tables(), **created}
        views: set[str] = set()
        for statement in script.statements:
            expression = statement.expression
            if statement.type == "create_view":
                node = expression.this.this if isinstance(expression.this, exp.Schema) else expression.this
                views.add(node.name.lower())
            if statement.type not in ("select", "insert", "create_view"):
                continue
            ctes = {cte.alias_or_name.lower() for cte in expression.find_all(exp.CTE)}
            for table in expression.find_all(exp.Table):
                if not isinstance(table.this, exp.Identifier) or table.name.lower() in ctes and not table.db:
                    continue
                if not table.db:
                    if table.name.lower() not in views:
                        self.add(script.file, _line(statement, table), f"unknown table or view '{table.name}'")
                    continue
                ident = _ident(table)
                if ident not in known:
                    close = difflib.get_close_matches(ident, list(known), n=1)
                    hint = f"; did you mean '{close[0]}'?" if close else ""
                    self.add(script.file, _line(statement, table), f"unknown table '{ident}'{hint}")
            query = expression.expression if statement.type in ("insert", "create_view") else expression
            if isinstance(query, exp.Query):
                self.columns(script, statement, query, known)

    def columns(self, script: _Sql, statement: Any, query: exp.Query, known: dict[str, dict[str, str]]) -> None:
        try:
            scopes = traverse_scope(query)
        except SqlglotError as err:
            self.add(script.file, statement.line, f"cannot analyse the query: {str(err).splitlines()[0]}")
            return
        for scope in scopes:
            sources = {name.lower(): _source_columns(source, known)
                       for name, (_, source) in scope.selected_sources.items()}
            # ORDER BY / HAVING / QUALIFY may name a projection's alias.
            aliases = {s.alias.lower() for s in scope.expression.selects if isinstance(s, exp.Alias)} if isinstance(
                scope.expression, exp.Select) else set()
            for column in scope.columns:
                name = column.name.lower()
                if not name or isinstance(column.this, exp.Star):
                    continue
                qualifier = column.table.lower() if column.table else None
                if qualifier:
                    if qualifier not in sources:
                        continue  # an outer-scope (correlated) reference, or a struct field access
                    columns = sources[qualifier]
                    if columns is not None and name not in columns:
                        self.add(script.file, _line(statement, column),
                                 f"unknown column '{column.name}' in {_describe(scope, qualifier)}{_hint(name, columns)}")
                    continue
                if name in aliases or any(c is None for c in sources.values()):
                    continue
                if not any(name in (c or set()) for c in sources.values()):
                    everything = set().union(*(c or set() for c in sources.values())) if sources else set()
                    where = ", ".join(sorted(sources)) or "the query"
                    self.add(script.file, _line(statement, column),
                             f"unknown column '{column.name}' (not in {where}){_hint(name, everything)}")

    # -- mocks ------------------------------------------------------------------------------

    def mock(self, path: Path) -> None:
        from towpath.testing.check import validate_mocks

        if "{{" in path.name:
            return  # a recipe template, not a mock yet
        report = validate_mocks(self.project, [path])[0]
        table_exists = report.table is None or report.table in self.catalog_tables()
        for problem in report.problems:
            if table_exists or problem.row is not None:  # a table a first run creates cannot be compared yet
                self.add(path, problem.line, problem.message)


class _KeepUnknown(dict[str, str]):
    """Parameters where an undefined `${NAME}` stays as written (run-time parameters)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return f"${{{key}}}"


def _source_columns(source: Any, known: dict[str, dict[str, str]]) -> set[str] | None:
    """Column names a FROM/JOIN source provides; None when unknown (no schema, `SELECT *`, a function)."""
    if isinstance(source, exp.Table):
        if not isinstance(source.this, exp.Identifier) or not source.db:
            return None
        columns = known.get(_ident(source))
        return set(columns) if columns is not None else None
    if isinstance(source, Scope):
        expression = source.expression
        if not isinstance(expression, exp.Query):
            return None
        selects = expression.selects
        if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and isinstance(s.this, exp.Star))
               for s in selects):
            return None
        return {name.lower() for name in expression.named_selects}
    return None


def _describe(scope: Scope, qualifier: str) -> str:
    _, source = scope.selected_sources.get(qualifier, (None, None))
    if isinstance(source, exp.Table) and source.db:
        return f"table {_ident(source)}"
    return f"'{qualifier}'"


def _hint(name: str, columns: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(columns), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _ident(table: exp.Table) -> str:
    return f"{table.db}.{table.name}".lower()


def _line(statement: Any, node: exp.Expression) -> int:
    """The file line of `node`: the statement's first line plus the node's line inside the statement."""
    target = node.this if isinstance(node, (exp.Column, exp.Table)) and isinstance(node.this, exp.Expression) else node
    meta_line = target.meta.get("line") if target.meta else None
    return int(statement.line + meta_line - 1) if meta_line else int(statement.line)

