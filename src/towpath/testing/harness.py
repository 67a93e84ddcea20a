"""`run_job`: run one SQL script or Python transform on mock tables, in a throwaway project.

Each call builds an isolated project in a temporary folder (SQLite Iceberg
catalog, local warehouse, DuckDB engine) and removes it afterwards, so unit
tests never touch a real catalog and never see each other's tables.

Speed matters (a unit test should take well under a second), so input mocks are
*registered* with the engine (`Engine.register`: a registered `db.table` shadows
the catalog) instead of being committed to Iceberg. Only tables the job writes
go through the catalog, exactly as in a workflow run, so `INSERT OVERWRITE`
shaping, partition columns and type casts behave as in production:

* a table an `INSERT` writes is created in the throwaway catalog from the
  expected-output mock (`target=`) when given, else from the schema of the
  INSERT's query (run with `LIMIT 0`); a mock *of* that table in `mocks=` is
  written into it first (for `INSERT INTO` appends);
* a bare `SELECT` is written to the `target=` table when one is given (as a
  workflow's `target:` would), else its rows are returned as they are;
* a Python transform's result is written to the `target=` table when given
  (so it is cast to the table's types as a workflow would), else returned as Arrow.

What comes back is what the job wrote, read back from the catalog.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
from sqlglot import exp

from towpath.errors import SpecError, SqlError
from towpath.testing.mocks import Mock, load_mock

if TYPE_CHECKING:
    from towpath.config.project import EngineConfig
    from towpath.project import Project

__all__ = ["MockInput", "job_params", "run_job", "sandbox", "test_engine"]

MockInput = Mock | str | Path
"""A mock given as a loaded `Mock` or as a file path (relative to `base`)."""


def run_job(
    job: str | Path | Any,
    *,
    mocks: Sequence[MockInput] = (),
    params: Mapping[str, str] | None = None,
    dialect: str = "spark",
    base: str | Path | None = None,
    target: MockInput | None = None,
    engine: str | None = None,
) -> pa.Table:
    """Run `job` against mock tables and return what it wrote (or selected) as Arrow.

    Args:
        job: a SQL script path (`"src/sparksql_write.sql"`), a Python callable
            reference (`"src/python_write.py:transform"`, `"module:function"`)
            or a callable taking a `JobContext`.
        mocks: the tables the job reads, as mock files or `Mock`s.
        params: `${NAME}` values; `DATE` also sets `EXECUTION_DATE` and `DATE_NODASH`.
        dialect: SQL dialect of the script (and of `ctx.sql` in Python jobs).
        base: folder that relative job and mock paths start from (default: the current folder).
        target: the expected-output mock (or a `db.table` name): the table the job
            writes is created with its schema, and a SELECT or Python result is written to it.
        engine: `duckdb` or `spark` (local, on the process's shared session); default
            `$TOWPATH_TEST_ENGINE` (`towpath project test --engine spark` sets it), else `duckdb`.

    Raises:
        MockError: a mock does not load.
        SqlError: the script does not parse or fails (file:line).
        SpecError: the job file or callable cannot be found.
    """
    folder = Path(base) if base is not None else Path.cwd()
    loaded = [_mock(m, folder) for m in mocks]
    expected: Mock | None = None
    target_table: str | None = None
    if target is not None:
        if isinstance(target, Mock) or str(target).endswith((".yaml", ".yml")):
            expected = _mock(target, folder)
            target_table = expected.table
        else:
            target_table = str(target).lower()
    resolved = job_params(params or {})
    is_python = callable(job) or (":" in str(job) and not str(job).endswith(".sql"))
    script = None if is_python else _Script.load(folder / str(job), resolved, dialect)
    with sandbox(loaded, dialect=dialect, writes=script.writes if script else (), engine=engine) as project:
        if expected is not None:
            _ensure_table(project, expected.table, expected)
        try:
            if script is None:
                return _run_python(project, job, folder, resolved, target_table)
            return _run_sql(project, script, dialect, target_table)
        except SqlError as exc:
            raise _with_mock_columns(exc, loaded) from None


def _with_mock_columns(exc: SqlError, mocks: Sequence[Mock]) -> SqlError:
    """A failed query on mocks usually means a mock lacks a column: say which file declares what."""
    if not mocks:
        return exc
    listing = "; ".join(f"{m.path or m.table} ({m.table}) declares {', '.join(n for n, _ in m.columns)}" for m in mocks)
    return SqlError(f"{exc.msg} [mocks: {listing}]", file=exc.file, line=exc.line)


def job_params(params: Mapping[str, str]) -> dict[str, str]:
    """`params` over the built-ins a workflow run of `DATE` defines (`towpath.workflows.params.builtin_params`).

    The date is `params["DATE"]` (or `EXECUTION_DATE`, else today); `CATALOG` is
    the sandbox project's name and `RUN_ID` is `unit-test`.
    """
    from towpath.workflows.params import builtin_params, parse_date

    given = {k: str(v) for k, v in params.items()}
    raw = given.get("DATE") or given.get("EXECUTION_DATE")
    date = parse_date(raw, field="params.DATE").isoformat() if raw else dt.date.today().isoformat()
    builtins = builtin_params(
        execution_date=date, timezone=given.get("EXECUTION_TIMEZONE", "UTC"), catalog=SANDBOX_NAME, run_id="unit-test",
    )
    return {**builtins, **given}


def test_engine(name: str | None = None) -> EngineConfig:
    """The engine of a throwaway project: `name`, else `$TOWPATH_TEST_ENGINE`, else DuckDB.

    Spark runs `local[2]` and shares the process's one session, so only the first
    test pays for the JVM.
    """
    from towpath.config.project import EngineConfig, SparkConfig
    from towpath.testing.runner import ENGINE_VARIABLE

    chosen = name or os.environ.get(ENGINE_VARIABLE) or "duckdb"
    return EngineConfig(type=chosen, threads=2, spark=SparkConfig(master="local[2]"))


test_engine.__test__ = False  # type: ignore[attr-defined]  # a helper, not a pytest test


SANDBOX_NAME = "unit-test"
"""`name` of every throwaway project (so `${CATALOG}` is `unit-test` in unit tests)."""


@contextmanager
def sandbox(
    mocks: Sequence[Mock] = (), *, dialect: str = "spark", writes: Sequence[str] = (), engine: str | None = None
) -> Iterator[Project]:
    """A throwaway project whose engine sees `mocks` as tables; removed on exit.

    Mocks of tables in `writes` are written into the catalog (the job will write
    to them too); every other mock is registered with the engine only. `engine`
    as for `run_job`.
    """
    from towpath.config.project import ProjectConfig, SqlCatalogConfig
    from towpath.project import Project

    root = Path(tempfile.mkdtemp(prefix="towpath-test-"))
    config = ProjectConfig(
        name=SANDBOX_NAME,
        # `sqlite://` is SQLAlchemy's in-memory database: creating a table costs ~10 ms instead of
        # ~500 ms of fsyncs in a file. It lives per thread, which is fine: a job runs in one thread.
        catalog=SqlCatalogConfig(uri="sqlite://"),
        warehouse=str(root / "warehouse"),
        engine=test_engine(engine),
        dialect=dialect,
        state=str(root / "state.db"),
    )
    project = Project(root, config=config)
    try:
        written = {w.lower() for w in writes}
        for mock in mocks:
            if mock.table in written:
                _ensure_table(project, mock.table, mock)
                project.catalog.write(mock.table, mock.data, "append")
            else:
                project.engine.register(mock.table, mock.data)
        yield project
    finally:
        if "engine" in project.__dict__:
            project.engine.close()
        shutil.rmtree(root, ignore_errors=True)


# -- SQL ---------------------------------------------------------------------------------------


class _Script:
    """A job script with its parameters substituted, parsed once, and the tables it INSERTs into."""

    def __init__(self, path: Path, text: str, statements: list[Any], writes: list[str]) -> None:
        self.path, self.text, self.statements, self.writes = path, text, statements, writes

    @classmethod
    def load(cls, path: Path, params: dict[str, str], dialect: str) -> _Script:
        from towpath.config.params import substitute_script
        from towpath.engines.insert import insert_target
        from towpath.engines.script import parse_script

        text = substitute_script(_read(path), params, file=path)
        statements = parse_script(text, dialect=dialect, file=path)
        writes = [
            _name(insert_target(s.expression).table)
            for s in statements
            if s.type == "insert" and isinstance(s.expression, exp.Insert)
        ]
        return cls(path, text, statements, writes)


def _run_sql(project: Project, script: _Script, dialect: str, target: str | None) -> pa.Table:
    from towpath.engines.insert import insert_target

    path = script.path
    for statement in script.statements:  # tables the script writes must exist before it runs
        if statement.type == "insert":
            ident = _name(insert_target(statement.expression).table)
            if not project.catalog.exists(ident):
                _create_from_query(project, ident, statement.expression, dialect, path, statement.line)
    with warnings.catch_warnings():  # overwriting an empty table has nothing to delete; that is fine
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        results = project.engine.run_script(script.text, file=path, dialect=dialect, target=target, mode="overwrite")
    written = [r for r in results if r.table and r.kind in ("insert", "select")]
    if written:
        return project.catalog.read(written[-1].table or "")
    selects = [r for r in results if r.kind == "select" and r.result is not None]
    if selects:
        result = selects[-1].result
        assert result is not None
        return result
    raise SqlError("the script neither writes a table nor ends with a SELECT; nothing to compare", file=path, line=1)


def _create_from_query(
    project: Project, ident: str, insert: exp.Insert, dialect: str, path: Path, line: int
) -> None:
    """Create an INSERT's missing target from the schema its query returns (no rows are read)."""
    from towpath.engines.insert import insert_target

    query = insert.expression
    if not isinstance(query, exp.Query):
        raise SqlError(f"INSERT into {ident} has no SELECT to take its columns from; pass target=", file=path, line=line)
    probe = project.engine.query(cast(exp.Expression, query.copy().limit(0)), dialect=dialect, file=path)
    schema = probe.schema
    static = insert_target(insert).static
    for name, value in static.items():
        if name not in schema.names:
            schema = schema.append(pa.field(name, _literal_type(value)))
    _ensure_table(project, ident, schema)


def _literal_type(value: exp.Expression) -> pa.DataType:
    if isinstance(value, exp.Literal) and not value.is_string:
        return pa.int64() if "." not in value.this else pa.float64()
    text = value.name
    try:
        dt.date.fromisoformat(text)
        return pa.date32()
    except ValueError:
        return pa.string()


# -- Python ------------------------------------------------------------------------------------


def _run_python(project: Project, job: Any, base: Path, params: dict[str, str], target: str | None) -> pa.Table:
    from towpath.workflows.context import JobContext, RunContext
    from towpath.workflows.jobs.python import load_callable

    fn = job if callable(job) else load_callable(str(job), base)
    run = RunContext(
        config=project.config,
        catalog=project.catalog,
        state=project.state,
        engine=project.engine,
        run_id=params["RUN_ID"],
        workflow_id="unit-test",
        workflow_dir=base,
        params=params,
        execution_date=params.get("EXECUTION_DATE", dt.date.today().isoformat()),
    )
    output = fn(JobContext(run=run, job_id=getattr(fn, "__name__", "job"), params=params))
    if output is None:
        raise SpecError(f"python job {job!r} returned None; a transform must return Arrow, Polars or a DuckDB relation")
    if target is None:
        return project.engine.to_arrow(output)
    if not project.catalog.exists(target):
        _ensure_table(project, target, project.engine.to_arrow(output).schema)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        project.engine.write(target, output, mode="overwrite")
    return project.catalog.read(target)


# -- helpers -----------------------------------------------------------------------------------


def _mock(value: MockInput, base: Path) -> Mock:
    if isinstance(value, Mock):
        return value
    path = Path(value)
    return load_mock(path if path.is_absolute() else base / path)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise SpecError("job script not found", file=path) from None


def _name(table: exp.Table) -> str:
    parts = [p.name for p in table.parts]
    return ".".join(parts[-2:]).lower()


def _ensure_table(project: Project, ident: str, schema: Mock | pa.Schema) -> None:
    catalog = project.catalog
    if catalog.exists(ident):
        return
    catalog.ensure_namespace(ident.split(".")[0])
    catalog.iceberg.create_table(ident, schema=schema.schema if isinstance(schema, Mock) else schema)
