"""The default engine: in-process DuckDB over the Iceberg files the catalog plans.

Reading: every `namespace.table` in a query is planned in the catalog with the
row filter `pruning.row_filter` derives from the query's WHERE, then replaced
in the AST by `read_parquet([...pruned files...])`. DuckDB then reads exactly
those files with its own vectorised reader; no row passes through Python.
Writing: a query's result comes back as Arrow and goes to `Catalog.write`, on
the branch `refs` names for that table.

Threads: the engine owns one in-memory DuckDB database. Each `query` and each
`run_script` works on its own `cursor()` (a connection to the same database),
so several threads may query at once. Arrow tables handed to `register` are
registered on each cursor that needs them, because DuckDB registrations are
per connection.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import duckdb
import pyarrow as pa
from pyiceberg.expressions import BooleanExpression
from sqlglot import exp

from towpath.catalog import MAIN, Catalog, ScanPlan, WriteMode, normalize_identifier
from towpath.config.project import EngineConfig
from towpath.engines.base import StatementResult
from towpath.engines.insert import insert_target, shape_insert
from towpath.engines.pruning import row_filter
from towpath.engines.script import Statement, describe, parse_script
from towpath.errors import (
    CatalogError,
    ConflictError,
    EngineError,
    SqlError,
    TableNotFoundError,
)

__all__ = ["DuckDBEngine"]

DEFAULT_DIALECT = "spark"
_MAX_VIEW_DEPTH = 32
_SUPPORTED = "SELECT, INSERT INTO/OVERWRITE, CREATE TABLE, CREATE [TEMPORARY] VIEW, DROP TABLE/VIEW, USE, SET"


class _Bound:
    """A query rewritten for DuckDB plus the Arrow tables it needs registered."""

    def __init__(self, expression: exp.Expression, arrow: dict[str, pa.Table], scans: list[ScanPlan]) -> None:
        self.expression, self.arrow, self.scans = expression, arrow, scans


class DuckDBEngine:
    """`Engine` on embedded DuckDB; see the module docstring for how reads and writes work."""

    name: ClassVar[str] = "duckdb"
    dialect: ClassVar[str] = "duckdb"
    SUPPORTS_MERGE: ClassVar[bool] = False

    def __init__(self, config: EngineConfig, catalog: Catalog) -> None:
        settings: dict[str, Any] = {}
        if config.threads:
            settings["threads"] = config.threads
        if config.memory_limit:
            settings["memory_limit"] = config.memory_limit
        try:
            self._conn = duckdb.connect(":memory:", config=settings)
        except duckdb.Error as err:
            raise EngineError(f"cannot start DuckDB with {settings}: {_first_line(err)}") from None
        self.catalog = catalog
        self.scans: list[ScanPlan] = []
        self._registered: dict[str, pa.Table] = {}
        self._views: dict[str, exp.Expression] = {}
        self._lock = threading.Lock()
        self._names = itertools.count()

    # -- public API -----------------------------------------------------------------------------

    def query(
        self,
        sql: str | exp.Expression,
        *,
        dialect: str | None = None,
        refs: Mapping[str, str] | None = None,
        file: Path | str | None = None,
    ) -> pa.Table:
        """Run one SELECT (in `dialect`, default Spark SQL) and return its rows as Arrow."""
        if isinstance(sql, exp.Expression):
            expression, line = sql, 1
        else:
            statements = parse_script(sql, dialect=dialect or DEFAULT_DIALECT, file=file)
            if len(statements) != 1:
                raise SqlError(f"query() runs exactly one statement, got {len(statements)}", file=file, line=1)
            expression, line = statements[0].expression, statements[0].line
        if not isinstance(expression, exp.Query):
            raise SqlError(f"query() runs a SELECT, got {describe(expression)}", file=file, line=line)
        cursor = self._conn.cursor()
        try:
            return self._run_query(cursor, expression, _refs(refs), file, line)[0]
        finally:
            cursor.close()

    def run_script(
        self,
        script: str,
        *,
        file: Path | str | None = None,
        dialect: str | None = None,
        refs: Mapping[str, str] | None = None,
        target: str | None = None,
        mode: WriteMode = "dynamic_overwrite",
        allow_evolution: bool = False,
    ) -> list[StatementResult]:
        """Run a script's statements in order and report what each did.

        The whole script is parsed and checked for unsupported statements
        before the first one runs, so a typo near the end changes nothing.
        """
        dialect = dialect or DEFAULT_DIALECT
        statements = parse_script(script, dialect=dialect, file=file)
        for statement in statements:
            if statement.type == "unsupported":
                raise SqlError(
                    f"{describe(statement.expression)} statements are not supported by the {self.name} engine "
                    f"(supported: {_SUPPORTED})",
                    file=file, line=statement.line,
                )
        resolved_refs = _refs(refs)
        cursor = self._conn.cursor()
        try:
            return [
                self._run_statement(cursor, s, file, dialect, resolved_refs, target, mode, allow_evolution)
                for s in statements
            ]
        finally:
            cursor.close()

    def write(
        self,
        identifier: str,
        data: pa.Table | pa.RecordBatchReader | Any,
        *,
        mode: WriteMode,
        refs: Mapping[str, str] | None = None,
    ) -> StatementResult:
        """Write Arrow, a Polars/pandas frame or a DuckDB relation to a table (its branch in `refs`)."""
        ident = normalize_identifier(identifier)
        table = _to_arrow(data)
        branch = _refs(refs).get(ident, MAIN)
        snapshot = self.catalog.write(ident, table, mode, branch=branch)
        return StatementResult("insert", 0, "", table=ident, rows=table.num_rows, snapshot_id=snapshot, action=mode)

    def register(self, name: str, data: pa.Table) -> None:
        """Expose `data` as `name` (`db.table` or a bare name); it shadows a catalog table of that name."""
        with self._lock:
            self._registered[name.strip().lower()] = _to_arrow(data)

    def reset_scans(self) -> None:
        with self._lock:
            self.scans = []

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statements -----------------------------------------------------------------------------

    def _run_statement(
        self,
        cursor: duckdb.DuckDBPyConnection,
        st: Statement,
        file: Path | str | None,
        dialect: str,
        refs: dict[str, str],
        target: str | None,
        mode: WriteMode,
        allow_evolution: bool,
    ) -> StatementResult:
        expression = st.expression
        if st.type == "select":
            data, sql = self._run_query(cursor, expression, refs, file, st.line)
            if target is None:
                return StatementResult("select", st.line, sql, rows=data.num_rows, result=data)
            ident = normalize_identifier(target)
            snapshot = self._write(ident, data, mode, refs, file, st.line)
            return StatementResult("select", st.line, sql, table=ident, rows=data.num_rows, snapshot_id=snapshot,
                                   action=mode)
        if st.type == "insert":
            return self._insert(cursor, st, file, refs)
        if st.type == "create_table":
            return self._create_table(st, file, dialect, allow_evolution)
        if st.type == "create_view":
            return self._create_view(cursor, st, file, refs)
        if st.type == "drop_table":
            return self._drop_table(st, file)
        if st.type == "drop_view":
            return self._drop_view(st, file)
        # USE and SET: DuckDB needs neither; accepted so Spark scripts run unchanged.
        return StatementResult("other", st.line, expression.sql(dialect=self.dialect), action="ignored")

    def _insert(
        self, cursor: duckdb.DuckDBPyConnection, st: Statement, file: Path | str | None, refs: dict[str, str]
    ) -> StatementResult:
        assert isinstance(st.expression, exp.Insert)
        target = insert_target(st.expression)
        ident = _table_name(target.table, file, st.line)
        query = st.expression.expression
        if query is None:
            raise SqlError(f"INSERT into {ident} has no SELECT or VALUES", file=file, line=st.line)
        try:
            columns = [f.name for f in self.catalog.table(ident).schema().fields]
        except TableNotFoundError as err:
            raise SqlError(str(err), file=file, line=st.line) from None
        data, sql = self._run_query(cursor, query, refs, file, st.line)
        constants = {name: self._constant(cursor, value, file, st.line) for name, value in target.static.items()}
        try:
            data = shape_insert(data, columns, target, constants)
        except ValueError as err:
            raise SqlError(f"INSERT into {ident}: {err}", file=file, line=st.line) from None
        mode: WriteMode = "dynamic_overwrite" if target.overwrite else "append"
        # An empty result is still written: the catalog then cuts the `refs` branch, so audits of a
        # Write-Audit-Publish run find the branch even on a day without data.
        snapshot = self._write(ident, data, mode, refs, file, st.line)
        return StatementResult("insert", st.line, sql, table=ident, rows=data.num_rows, snapshot_id=snapshot,
                               action=mode)

    def _create_table(self, st: Statement, file: Path | str | None, dialect: str, allow_evolution: bool) -> StatementResult:
        from towpath.catalog.ddl import apply_ddl  # the DDL room is optional for engines that only read

        assert isinstance(st.expression, exp.Create)  # classify() said so
        try:
            result = apply_ddl(self.catalog, st.expression, dialect=dialect, allow_evolution=allow_evolution)
        except (ConflictError, SqlError):
            raise
        except CatalogError as err:
            raise SqlError(str(err), file=file, line=st.line) from err
        return StatementResult("ddl", st.line, st.text, table=result.identifier, action=result.action)

    def _create_view(
        self, cursor: duckdb.DuckDBPyConnection, st: Statement, file: Path | str | None, refs: dict[str, str]
    ) -> StatementResult:
        create = st.expression
        node = create.this
        query = create.expression
        if isinstance(node, exp.Schema):
            alias = exp.TableAlias(this=exp.to_identifier(node.this.name), columns=[c.copy() for c in node.expressions])
            query = exp.select("*").from_(exp.Subquery(this=query.copy(), alias=alias))
            node = node.this
        name = _view_name(node)
        with self._lock:
            exists = name in self._views
        if exists and not create.args.get("replace"):
            if create.args.get("exists"):
                return StatementResult("other", st.line, st.text, table=name, action="unchanged")
            raise SqlError(f"view '{name}' already exists; use CREATE OR REPLACE", file=file, line=st.line)
        # Check the view now, as Spark does, so a bad column is reported at the CREATE, not at its first use.
        probe = exp.select("*").from_(exp.Subquery(this=query.copy(), alias=exp.TableAlias(this=exp.to_identifier("v"))))
        self._run_query(cursor, probe.limit(0), refs, file, st.line, record=False)
        with self._lock:
            self._views[name] = query
        return StatementResult("other", st.line, st.text, table=name, action="view")

    def _drop_table(self, st: Statement, file: Path | str | None) -> StatementResult:
        dropped = []
        for node in st.expression.args.get("tables") or [st.expression.this]:
            ident = _table_name(node, file, st.line)
            if not self.catalog.exists(ident):
                if st.expression.args.get("exists"):
                    continue
                raise SqlError(str(TableNotFoundError(ident, self.catalog.list_tables())), file=file, line=st.line)
            self.catalog.iceberg.drop_table(ident)
            dropped.append(ident)
        return StatementResult("ddl", st.line, st.text, table=", ".join(dropped) or None,
                               action="dropped" if dropped else "unchanged")

    def _drop_view(self, st: Statement, file: Path | str | None) -> StatementResult:
        names = [_view_name(n) for n in st.expression.args.get("tables") or [st.expression.this]]
        with self._lock:
            missing = [n for n in names if n not in self._views]
            if missing and not st.expression.args.get("exists"):
                raise SqlError(f"view '{missing[0]}' does not exist", file=file, line=st.line)
            for n in names:
                self._views.pop(n, None)
        return StatementResult("other", st.line, st.text, table=", ".join(names), action="dropped")

    # -- reading --------------------------------------------------------------------------------

    def _run_query(
        self,
        cursor: duckdb.DuckDBPyConnection,
        query: exp.Expression,
        refs: dict[str, str],
        file: Path | str | None,
        line: int,
        *,
        record: bool = True,
    ) -> tuple[pa.Table, str]:
        bound = self._bind(query, refs, file, line)
        if record:
            with self._lock:
                self.scans.extend(bound.scans)
        sql = bound.expression.sql(dialect=self.dialect)
        return self._execute(cursor, sql, bound.arrow, file, line), sql

    def _execute(
        self, cursor: duckdb.DuckDBPyConnection, sql: str, arrow: Mapping[str, pa.Table], file: Path | str | None, line: int
    ) -> pa.Table:
        try:
            for name, data in arrow.items():
                cursor.register(name, data)
            try:
                return cursor.sql(sql).to_arrow_table()
            finally:
                for name in arrow:
                    cursor.unregister(name)
        except duckdb.Error as err:
            raise SqlError(_first_line(err), file=file, line=line) from None

    def _constant(self, cursor: duckdb.DuckDBPyConnection, value: exp.Expression, file: Path | str | None, line: int) -> pa.Scalar:
        """Evaluate a static partition value (`'2022-01-01'`, `DATE '2022-01-01'`, `3`) in the engine."""
        result = self._execute(cursor, exp.select(value.copy()).sql(dialect=self.dialect), {}, file, line)
        return result.column(0)[0]

    def _bind(self, query: exp.Expression, refs: dict[str, str], file: Path | str | None, line: int) -> _Bound:
        """Replace every table reference in `query` by what DuckDB should read.

        Order of resolution for a name: a CTE of the query, a session view, a
        registered Arrow table, then (if qualified) the catalog. Views expand
        into subqueries here, so their tables are pruned and redirected by
        `refs` like any other read.
        """
        root = query.copy()
        arrow: dict[str, pa.Table] = {}
        scans: list[ScanPlan] = []
        with self._lock:
            views = dict(self._views)
            registered = dict(self._registered)
        holder = exp.Subquery(this=root)  # lets us replace the root itself
        pending: list[tuple[exp.Expression, int]] = [(root, 0)]
        while pending:
            node, depth = pending.pop()
            if depth > _MAX_VIEW_DEPTH:
                raise SqlError("views nest too deeply (a view that reads itself?)", file=file, line=line)
            ctes = {cte.alias_or_name.lower() for cte in node.find_all(exp.CTE)}
            tables = [t for t in node.find_all(exp.Table) if isinstance(t.this, exp.Identifier)]
            catalog_tables: dict[int, tuple[exp.Table, str]] = {}
            for table in tables:
                key = _key(table)
                if not table.args.get("db") and key in ctes:
                    continue
                if key in views:
                    alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
                    expanded = exp.Subquery(this=views[key].copy(), alias=alias.copy())
                    table.replace(expanded)
                    pending.append((expanded.this, depth + 1))
                elif key in registered:
                    internal = f"_towpath_arrow_{next(self._names)}"
                    arrow[internal] = registered[key]
                    table.replace(_aliased(exp.to_table(internal), table))
                elif table.args.get("db"):
                    catalog_tables[id(table)] = (table, normalize_identifier(key))
            plans = self._plan(catalog_tables, registered, refs, file, line)
            for table, plan in plans:
                scans.append(plan)
                if plan.files:
                    files = exp.Array(expressions=[exp.Literal.string(f) for f in plan.files])
                    source = exp.Table(this=exp.func("read_parquet", files, dialect=self.dialect))
                else:  # read_parquet([]) is an error; an empty Arrow table has the right columns and types
                    internal = f"_towpath_empty_{next(self._names)}"
                    arrow[internal] = plan.schema.empty_table()
                    source = exp.to_table(internal)
                table.replace(_aliased(source, table))
        return _Bound(holder.this, arrow, scans)

    def _plan(
        self,
        tables: dict[int, tuple[exp.Table, str]],
        registered: Mapping[str, pa.Table],
        refs: dict[str, str],
        file: Path | str | None,
        line: int,
    ) -> list[tuple[exp.Table, ScanPlan]]:
        """Plan every catalog table of one query (before any is replaced, so joins see each other's columns)."""
        schemas = {}
        for key, (_, ident) in tables.items():
            try:
                schemas[key] = self.catalog.table(ident).schema()
            except TableNotFoundError:
                known = self.catalog.list_tables() + [n for n in registered if "." in n]
                raise SqlError(str(TableNotFoundError(ident, known)), file=file, line=line) from None

        def columns_of(source: exp.Expr) -> set[str] | None:
            if id(source) in schemas:
                return {f.name.lower() for f in schemas[id(source)].fields}
            return None

        out = []
        for key, (table, ident) in tables.items():
            predicate: BooleanExpression = row_filter(table, schemas[key], columns_of)
            try:
                plan = self.catalog.plan_scan(ident, predicate, refs.get(ident))
            except CatalogError as err:
                raise SqlError(str(err), file=file, line=line) from None
            out.append((table, plan))
        return out

    def _write(
        self, ident: str, data: pa.Table, mode: WriteMode, refs: dict[str, str], file: Path | str | None, line: int
    ) -> int | None:
        try:
            return self.catalog.write(ident, data, mode, branch=refs.get(ident, MAIN))
        except ConflictError:
            raise  # retryable as is: keep its family
        except CatalogError as err:
            raise SqlError(str(err), file=file, line=line) from None


def _refs(refs: Mapping[str, str] | None) -> dict[str, str]:
    return {normalize_identifier(k): v for k, v in (refs or {}).items()}


def _key(table: exp.Table) -> str:
    """`db.name` (or `name`), lower-cased; a catalog part is dropped."""
    return ".".join(p for p in (table.db, table.name) if p).lower()


def _table_name(table: exp.Expression, file: Path | str | None, line: int) -> str:
    if not isinstance(table, exp.Table) or not table.args.get("db"):
        raise SqlError(f"'{table.sql()}' must be a table qualified as namespace.table", file=file, line=line)
    return normalize_identifier(_key(table))


def _view_name(node: exp.Expression) -> str:
    return _key(node) if isinstance(node, exp.Table) else node.name.lower()


def _aliased(source: exp.Table, original: exp.Table) -> exp.Table:
    """`source` under the alias `original` had (or its bare name), so column qualifiers still bind."""
    alias = original.args.get("alias") or exp.TableAlias(this=exp.to_identifier(original.name))
    source.set("alias", alias.copy())
    return source


def _to_arrow(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, duckdb.DuckDBPyRelation):
        return data.to_arrow_table()
    try:
        return pa.table(data)  # Polars, pandas and anything with __arrow_c_stream__
    except (TypeError, ValueError, pa.ArrowException) as err:
        raise EngineError(
            f"cannot write a {type(data).__name__}: expected an Arrow table or reader, a Polars or pandas "
            f"DataFrame, or a DuckDB relation ({err})"
        ) from None


def _first_line(err: BaseException) -> str:
    lines = [ln for ln in str(err).splitlines() if ln.strip()]
    if not lines:
        return type(err).__name__
    hint = [ln.strip() for ln in lines[1:] if ln.strip().lower().startswith(("candidate", "did you mean"))]
    return " ".join([lines[0], *hint])
