"""Preflight: everything about a main workflow that can be known without running it.

`towpath workflow run|daily|backfill` call `preflight` after loading a workflow
and before its first step starts; `towpath project validate` calls
`check_workflow` for every workflow file. One code path, so a workflow that
validates is a workflow whose run does not stop halfway on a mistake that was
visible up front. A workflow with a mistake in step 5 runs no step at all.

Each job type says what can be checked about its steps (`JobType.check`, one
classmethod in the job type's module, calling the helpers of `Preflight`); the
built-ins check, walking the steps in the order they run:

* every SQL script exists, is not empty, parses in its dialect and holds only
  statements the engines run; its `${VAR}`s resolve;
* every `CREATE TABLE` is one `apply_ddl` accepts: supported types and clauses,
  and no conflict with the table that already exists (`catalog.check_ddl`);
* every table a query reads, an `INSERT` or a `target:` writes, exists in the
  catalog or is created by an earlier DDL step; every column a query names
  exists; an `INSERT` returns as many columns as its target takes;
* every table an `hwm`, `metadata`, `audit`, `wait` step or a WAP template names
  exists or is created by an earlier DDL step;
* a Python job's callable exists and its module parses (it is not imported:
  importing is running user code);
* the `hwm` step's datetime and time zone parse, the `wait` step's `until` parses;
* every `-p KEY=VALUE` is used by some step ("did you mean" otherwise).

Python steps are opaque (`JobType.OPAQUE`): one may create any table (a sample's
source step does), so after the first such step a table read that does not exist
yet is not reported. Problems are collected, not raised one by one; each names its file,
line and (for YAML) column.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from towpath.config import Document, dotted, load_yaml, references
from towpath.config.params import substitute_script
from towpath.errors import (
    CatalogError,
    ParameterError,
    SpecError,
    SpecErrors,
    SqlError,
    TowpathError,
    UnknownNameError,
)
from towpath.lineage import WorkflowLineage
from towpath.sql import (
    CatalogSchemas,
    Schemas,
    node_line,
    query_lineage,
    resolve_query,
    table_key,
    unknown_table,
)

if TYPE_CHECKING:
    from towpath.workflows.context import Workspace
    from towpath.workflows.spec import JobSpec, WorkflowSpec

__all__ = ["CONSUMED_PARAMS", "Preflight", "check_workflow", "preflight"]

Loc = tuple[int | str, ...]

CONSUMED_PARAMS = frozenset({"DATE", "EXECUTION_DATE", "EXECUTION_TIMEZONE"})
"""Command-line parameters the runner itself reads (the run's date and time zone): never unused."""


def preflight(
    project: Workspace, spec: WorkflowSpec, *, cli_params: Mapping[str, str] | None = None,
) -> WorkflowLineage:
    """Raise every problem `check_workflow` finds, together, before anything runs; returns the
    workflow's static lineage, which the same walk collected.

    Raises:
        SpecError: one problem; `SpecErrors` for several (each at its file:line:column).
    """
    lineage = WorkflowLineage(spec.id, spec.path, spec.owner)
    problems = check_workflow(project, spec, cli_params=cli_params, lineage=lineage)
    if problems:
        raise problems[0] if len(problems) == 1 else SpecErrors(problems)
    return lineage


def check_workflow(
    project: Workspace,
    spec: WorkflowSpec,
    *,
    strict: bool = True,
    cli_params: Mapping[str, str] | None = None,
    described: Schemas | None = None,
    lineage: WorkflowLineage | None = None,
) -> list[SpecError]:
    """Every problem of a loaded main workflow that shows without running it (see the module docstring).

    Args:
        project: the project whose catalog the tables must be in.
        spec: the workflow, loaded with the parameters it will run with.
        strict: off for `project validate`, where parameters given only at run time
            stay `${NAME}`: values that still hold one are not checked.
        cli_params: the command line's `-p` parameters (each must be used somewhere).
        described: tables a mock describes (`project validate`: a source a job fills
            on its first run exists nowhere else yet).
        lineage: filled with the workflow's static lineage on the way (`towpath.lineage`).
    """
    check = Preflight(project, spec, strict, CatalogSchemas(project.catalog, described), lineage)
    check.project_names()
    for node in spec.ordered_nodes():
        check.node(node)
    if strict:
        check.unused(cli_params or {})
    return check.problems


class Preflight:
    """One check of one workflow: walks its steps in run order and collects problems.

    What a job type's `check` calls: `at` (a problem at a field of the step being
    checked), `table`, `sql`, `python`, `audits`, `zone`, `moment`, `node` (a
    nested step, e.g. a WAP template's write jobs) and `skip`.
    """

    def __init__(self, project: Workspace, spec: WorkflowSpec, strict: bool, tables: CatalogSchemas,
                 lineage: WorkflowLineage | None = None) -> None:
        self.project, self.spec, self.strict, self.tables = project, spec, strict, tables
        self.lineage = lineage if lineage is not None else WorkflowLineage(spec.id, spec.path, spec.owner)
        """What the walk learns about the tables and columns each job reads and writes."""
        self.job = ""
        """Id of the step being checked, as its runs record it (a WAP write job is `<wap>.<job>`)."""
        self.views: dict[str, exp.Query] = {}
        """Queries of the views the SQL job being checked created (lineage reads through them)."""
        self.problems: list[SpecError] = []
        self.used: set[str] = set()
        """Parameter names some step uses (for unused `-p`)."""
        self.opaque = False
        """A Python step ran before: it may have created tables the catalog does not show yet."""
        self.doc: Document | None = load_yaml(spec.path) if spec.path is not None else None
        self.locs = dict(_node_locs(spec))
        self.loc: Loc = ()
        """Where the step being checked is in the file."""
        self.project_dialect_ok = True
        """False once `towpath.yaml`'s dialect was reported: SQL in it is not parsed again per step."""

    # -- reporting --------------------------------------------------------------------------

    def at(self, msg: str, *fields: int | str) -> None:
        """A problem at a field of the step being checked (`fields` below its body)."""
        loc = (*self.loc, *fields)
        line, col = self.doc.locate(loc) if self.doc is not None else (None, None)
        self.problems.append(SpecError(msg, file=self.spec.path, line=line, col=col, field=dotted(loc) or None))

    def at_file(self, msg: str, file: Path | str, line: int | None, col: int | None = None) -> None:
        """A problem at a line of a script or module."""
        self.problems.append(SpecError(msg, file=file, line=line, col=col))

    def error(self, err: TowpathError, *fields: int | str) -> None:
        """A `TowpathError` met while checking: kept at its own place if it has one, else at `fields`."""
        if isinstance(err, SpecErrors):
            self.problems.extend(err.errors)
        elif isinstance(err, SqlError) and err.file is not None:
            self.at_file(err.msg, err.file, err.line)
        elif isinstance(err, SpecError) and err.file is not None:
            self.problems.append(err)
        else:
            self.at(getattr(err, "msg", None) or str(err), *fields)

    def skip(self, value: str | None) -> bool:
        """A value still holding `${...}` (non-strict loading) cannot be checked."""
        return value is None or (not self.strict and "${" in value)

    # -- steps ------------------------------------------------------------------------------

    def project_names(self) -> None:
        """The engine and dialect `towpath.yaml` names exist (reported at its file:line:column)."""
        from towpath.config.project import field_error
        from towpath.engines import ENGINES
        from towpath.engines.script import get_dialect

        config, root = self.project.config, self.project.root
        if config.engine.type not in ENGINES:
            unknown = UnknownNameError("engine", config.engine.type, ENGINES.names())
            self.problems.append(field_error(root, ("engine", "type"), str(unknown)))
        try:
            get_dialect(config.dialect)
        except UnknownNameError as exc:
            self.problems.append(field_error(root, ("dialect",), str(exc)))
            self.project_dialect_ok = False


    def node(self, node: JobSpec) -> None:
        """Check one step (or a step nested in a template) with its job type's `check`."""
        from towpath.workflows.jobs import get_job_type

        job_type = get_job_type(node.type)
        outer, self.loc = self.loc, self.locs[node.id]
        outer_job, self.job = self.job, f"{self.job}.{node.id}" if self.job else node.id
        self.lineage.job_types[self.job] = node.type
        try:
            job_type.check(node, self)
            job_type.lineage(node, self)
        finally:
            self.loc, self.job = outer, outer_job
        self.opaque = self.opaque or job_type.OPAQUE

    def sql(self, job: Any) -> None:
        """A SQL job: its script, every statement, the tables it reads and writes (module docstring)."""
        from towpath.engines.script import parse_script
        from towpath.workflows.loader import job_params

        source = self.sql_source(job)
        if source is None:
            return
        raw, file, offset = source
        self.used |= references(raw)
        if job.dialect is None and not self.project_dialect_ok:
            return
        params = job_params(self.spec, job)
        dialect = job.dialect or self.project.config.dialect
        try:
            text = substitute_script(raw, params if self.strict else _KeepUnknown(params), file=file)
            statements = parse_script(text, dialect=dialect, file=file, shared=True)  # read, never changed
        except TowpathError as exc:
            self.error(_shifted(exc, offset))
            return
        if not statements:
            self.at("the SQL script is empty: it holds no statement (only blanks or comments)",
                    "script" if job.script else "sql")
            return
        views: set[str] = set()
        self.views = {}
        for st in statements:
            self.statement(st, file, offset, dialect, job.allow_evolution, views, job.target)
        if job.target and not self.skip(job.target):
            self.table(job.target, "target", read=True)

    def sql_source(self, job: Any) -> tuple[str, Path, int] | None:
        """(raw SQL, the file it is in, lines before it in that file) or None when it cannot be read."""
        if job.script:
            if self.skip(job.script):
                return None
            path = self.spec.relative(job.script)
            try:
                return path.read_text(), path, 0
            except OSError as exc:
                self.at(f"script not found: {path}" if isinstance(exc, FileNotFoundError)
                        else f"cannot read the script {path}: {exc.strerror}", "script")
                return None
        # Inline SQL: report at lines of the workflow file (a `sql: |` block starts on the next line).
        line, _ = self.doc.locate((*self.loc, "sql")) if self.doc is not None else (None, None)
        path = self.spec.path or Path(f"<{job.id}.sql>")
        offset = 0
        if line is not None and self.spec.path is not None:
            text = self.spec.path.read_text().splitlines()
            block = line <= len(text) and text[line - 1].split("sql:", 1)[-1].strip()[:1] in ("|", ">")
            offset = line if block else line - 1
        return job.sql or "", path, offset

    def statement(self, st: Any, file: Path, offset: int, dialect: str, evolve: bool, views: set[str],
                  target: str | None = None) -> None:
        from towpath.catalog import check_ddl
        from towpath.engines.insert import arity_problem, filled_columns, insert_target
        from towpath.engines.script import unsupported

        line = st.line + offset
        if st.type == "unsupported":
            self.at_file(unsupported(st, self.project.config.engine.type), file, line)
            return
        if st.type == "create_table":
            try:
                checked = check_ddl(self.project.catalog, st.expression, dialect=dialect, allow_evolution=evolve)
            except CatalogError as exc:
                self.at_file(str(exc), file, line)
                return
            self.tables.create(checked.result.identifier,
                               {f.name.lower(): str(f.field_type) for f in checked.schema.fields})
            self.ddl_lineage(st.expression, checked.result.identifier, file, line)
            return
        if st.type == "create_view":
            node = st.expression.this.this if isinstance(st.expression.this, exp.Schema) else st.expression.this
            views.add(node.name.lower())
        if st.type not in ("select", "insert", "create_view"):
            return
        for found in resolve_query(st.expression, line, self.tables, views=views,
                                   report_unknown_tables=not self.opaque, source=st.text):
            self.at_file(found.message, file, found.line)
        query = st.expression.expression if st.type in ("insert", "create_view") else st.expression
        if not isinstance(query, exp.Query):
            return
        if st.type == "create_view":
            self.views[node.name.lower()] = query
            return
        filled: list[str] | None = None
        if st.type == "insert":
            into = insert_target(st.expression)
            target = table_key(into.table)
            columns = self.tables.get(target)
            if columns is not None and not any(
                    isinstance(s, exp.Star) or isinstance(s.this, exp.Star) for s in query.selects):
                names = [s.alias_or_name for s in query.selects]
                problem = arity_problem(names, list(columns), into)
                if problem:
                    self.at_file(f"INSERT into {target}: {problem}", file, line)
                filled = filled_columns(names, list(columns), into)
        elif target is not None:
            target = self.identifier(target)
        traced = query_lineage(query, line, self.tables, dialect=dialect, views=self.views, source=st.text)
        self.lineage.query(self.job, traced, file=file, target=target, target_columns=filled, line=line)

    def identifier(self, name: str) -> str | None:
        """`name` as the catalog names it (`db.table`), or None when it cannot be known yet."""
        from towpath.catalog import normalize_identifier

        if self.skip(name):
            return None
        try:
            return normalize_identifier(name)
        except CatalogError:
            return None

    def ddl_lineage(self, create: exp.Expression, ident: str, file: Path, line: int) -> None:
        """A CREATE TABLE names each of its columns at a line (a migration's rename must change it)."""
        for column in create.find_all(exp.ColumnDef):
            self.lineage.define(self.job, ident, column.name.lower(), file=file, line=node_line(line, column.this))

    def python(self, job: Any) -> None:
        """A Python job: its module exists and parses and defines the function (nothing is imported)."""
        module, _, function = job.callable.rpartition(":")
        if self.skip(module):
            return
        base = self.spec.path.parent if self.spec.path is not None else Path.cwd()
        found = _module_file(module, base)
        if isinstance(found, str):
            self.at(found, "callable")
            return
        if found is None:
            return  # a compiled or namespace module: nothing to parse, it imports at run time
        try:
            source = found.read_text()
            tree = ast.parse(source, filename=str(found))
        except SyntaxError as exc:
            self.at_file(f"syntax error: {exc.msg}", found, exc.lineno, exc.offset)
            return
        except (OSError, ValueError) as exc:
            self.at(f"cannot read {found}: {exc}", "callable")
            return
        defined = _top_level_names(tree)
        if function not in defined:
            close = difflib.get_close_matches(function, sorted(defined), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.at(f"'{function}' is not defined in {found}{hint}", "callable")
        # A Python job reads its parameters by name (`ctx.params["DAYS"]`): every string it holds counts as a use.
        self.used |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        if job.target and not self.skip(job.target):
            self.table(job.target, "target", read=True)
        self.python_lineage(job, found, tree, source)

    def python_lineage(self, job: Any, file: Path, tree: ast.Module, source: str) -> None:
        """A Python job's reads (`ctx.read`/`ctx.table`, `inputs:`), the columns its literals name, and its
        column edges: `lineage:` as declared, else each target column from the input column of its name."""
        from towpath.lineage import named_columns, table_reads
        from towpath.workflows.loader import job_params

        params = job_params(self.spec, job)
        inputs: dict[str, int | None] = {}
        for read in table_reads(tree, params):
            ident = self.identifier(read.table)
            if ident is not None:
                inputs.setdefault(ident, read.line)
        for i, name in enumerate(job.inputs):
            ident = self.identifier(name)
            if ident is not None:
                line, _ = self.doc.locate((*self.loc, "inputs", i)) if self.doc is not None else (None, None)
                inputs.setdefault(ident, line)
        columns_of = {table: set(self.tables.get(table) or ()) for table in inputs}
        for table, line in inputs.items():
            self.lineage.read(self.job, table, file=file, line=line)
        for named in named_columns(tree, set().union(*columns_of.values()) if columns_of else set(), source):
            for table, columns in columns_of.items():
                if named.column in columns:
                    self.lineage.read(self.job, table, named.column, file=file, line=named.line)
        target = self.identifier(job.target) if job.target else None
        if target is None:
            return
        self.lineage.write(self.job, target, file=self.spec.path, line=self.line_of("target"))
        declared = {k.lower(): v for k, v in (job.lineage or {}).items()}
        for column in self.tables.get(target) or declared:
            if column in declared:
                line = self.line_of("lineage", column)
                for named_source in declared[column]:
                    origin, source_column = _source_column(named_source, list(inputs), self)
                    if origin is None:
                        self.at(f"'{named_source}': the job reads {len(inputs)} tables, so name the source column "
                                "as db.table.column", "lineage", column)
                        continue
                    self.lineage.edge(self.job, origin, source_column, target, column, kind="declared",
                                      file=self.spec.path, line=line)
                continue
            for table, columns in columns_of.items():
                if column in columns:
                    self.lineage.edge(self.job, table, column, target, column, kind="inferred", file=file)
        if not columns_of and not declared:
            for table in inputs:
                self.lineage.edge(self.job, table, None, target, None, kind="table", file=file)

    def line_of(self, *fields: int | str) -> int | None:
        """The workflow file's line of a field of the step being checked."""
        return self.doc.locate((*self.loc, *fields))[0] if self.doc is not None else None

    def audits(self, audits: list[Any], default_table: str | None) -> None:
        """Every audit's table exists (the template's only table when an audit names none); the columns
        an audit names are reads of its table at their line (lineage)."""
        for k, audit in enumerate(audits):
            table = audit.params.get("table", default_table)
            if isinstance(table, str):
                self.table(table, *(("audits", k, "params", "table") if "table" in audit.params else ()))
                self.audit_lineage(audit.params, table, ("audits", k, "params"))

    def audit_lineage(self, params: Mapping[str, Any], table: str, loc: Loc) -> None:
        ident = self.identifier(table)
        if ident is None:
            return
        self.lineage.read(self.job, ident, file=self.spec.path, line=self.line_of(*loc))
        known = set(self.tables.get(ident) or ())
        for key, value in params.items():
            names = value if isinstance(value, list) else [value]
            for i, name in enumerate(names):
                if not isinstance(name, str):
                    continue
                words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", name)} & known
                where = (*loc, key, i) if isinstance(value, list) else (*loc, key)
                for word in sorted(words):
                    self.lineage.read(self.job, ident, word, file=self.spec.path, line=self.line_of(*where))

    def zone(self, timezone: str, *fields: int | str) -> bool:
        """`timezone` is an IANA name; False (and a problem) if not."""
        from towpath.workflows.params import zone

        if self.skip(timezone):
            return False
        try:
            zone(timezone)
        except ParameterError as exc:
            self.at(exc.msg, *fields)
            return False
        return True

    def moment(self, value: str, timezone: str, *fields: int | str) -> None:
        """`value` is an ISO date or datetime, as a high-water mark is written."""
        from towpath.catalog import parse_hwm

        if self.skip(value):
            return
        try:
            parse_hwm(value, timezone, where="")
        except CatalogError as exc:
            self.at(str(exc).removeprefix(": "), *fields)

    # -- tables and parameters --------------------------------------------------------------

    def table(self, name: str, *fields: int | str, read: bool = False) -> None:
        """`name` exists or is created by an earlier DDL step (`read`: or may be made by an earlier Python step)."""
        from towpath.catalog import normalize_identifier

        if self.skip(name):
            return
        try:
            ident = normalize_identifier(name)
        except CatalogError as exc:
            self.at(str(exc), *fields)
            return
        if ident in self.tables or (read and self.opaque):
            return
        self.at(f"{unknown_table(ident, self.tables)} (it neither exists nor is created by an earlier step's "
                "CREATE TABLE)", *fields)

    def unused(self, cli_params: Mapping[str, str]) -> None:
        """A `-p NAME=...` no step uses is a typo far more often than a spare parameter."""
        if self.spec.path is not None:
            self.used |= references(self.spec.path.read_text())
        used = self.used | set(self.spec.params) | CONSUMED_PARAMS
        for name in cli_params:
            if name in used:
                continue
            names = sorted(n for n in used if n.isidentifier())
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.problems.append(SpecError(
                f"no step uses the parameter '{name}'{hint}", file=self.spec.path, field=f"-p {name}"))


class _KeepUnknown(dict[str, str]):
    """Parameters where an undefined `${NAME}` stays as written (run-time parameters)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return f"${{{key}}}"


def _node_locs(spec: WorkflowSpec) -> Iterator[tuple[str, Loc]]:
    """Step id -> where its body is in the file (write jobs included)."""
    for i, step in enumerate(spec.steps):
        loc: Loc = ("steps", i, step.KEY)
        yield step.id, loc
        for k, write in enumerate(getattr(step.node, "write_jobs", None) or []):
            yield write.job.id, (*loc, "write_jobs", k, "job")


def _shifted(err: TowpathError, offset: int) -> TowpathError:
    """An error at a line of inline SQL, moved to the line of the workflow file."""
    if not offset or not isinstance(err, (SqlError, SpecError)) or err.line is None:
        return err
    if isinstance(err, SqlError):
        return SqlError(err.msg, file=err.file, line=err.line + offset)
    return type(err)(err.msg, file=err.file, line=err.line + offset, col=err.col, field=err.field)


def _module_file(module: str, base: Path) -> Path | str | None:
    """The source file of a job's module (a `.py` path or a dotted name), a problem, or None (no source)."""
    if module.endswith(".py"):
        path = (base / module).resolve()
        return path if path.is_file() else f"python file not found: {path}"
    sys.path.insert(0, str(base))
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    finally:
        sys.path.remove(str(base))
    if found is None:
        return f"cannot find module '{module}' (looked in {base} and the installed packages)"
    origin = Path(found.origin) if found.origin and found.origin.endswith(".py") else None
    return origin


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a module defines at top level: functions, classes, assignments, imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _source_column(source: str, inputs: list[str], preflight: Preflight) -> tuple[str | None, str]:
    """A declared lineage source: `column` (of the job's only input) or `db.table.column`
    (None for the table when a bare column does not say which input it is from)."""
    table, _, column = source.rpartition(".")
    if not table:
        return (inputs[0] if len(inputs) == 1 else None), column.lower()
    return preflight.identifier(table) or table, column.lower()
