"""What every engine that runs SQL over the catalog's files shares: statements, binding, writes.

An engine reads a table by planning its scan in the catalog (partition and
metrics pruning from the query's WHERE, the branch `refs` names) and swapping
the table reference in the AST for something the engine reads directly: DuckDB
inlines `read_parquet([...files...])`, Spark a temporary view over
`spark.read.parquet(*files)`. Everything around that swap is the same for every
engine and lives here: splitting and classifying a script, session views,
registered Arrow tables, `INSERT` shaping, DDL through the catalog room, and
writes of Arrow results through `Catalog.write` on the `refs` branch. A
subclass supplies only the engine-specific hooks (`_session`, `_scan_source`,
`_execute`), so the two engines cannot drift apart in what a statement means.
An engine whose results should not come back to this process (Spark) also
overrides `_write_query`, and writes the files where the rows are.
"""

from __future__ import annotations

import abc
import itertools
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeAlias, TypeVar

import pyarrow as pa
import pyarrow.dataset as ds
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from sqlglot import exp

from towpath.catalog import MAIN, Catalog, ScanCounts, ScanPlan, WriteMode, normalize_identifier
from towpath.engines.base import StatementResult
from towpath.engines.insert import InsertTarget, insert_target, shape_insert
from towpath.engines.pruning import exact_filter, row_filter
from towpath.engines.script import Statement, describe, parse_script, unsupported
from towpath.engines.templates import SlotTemplate, TemplateCache
from towpath.engines.templates import build as build_template
from towpath.errors import CatalogError, SqlError, TableNotFoundError, located
from towpath.sql import CatalogSchemas, ColumnAlias, cte_names, resolve_aliases, table_key, warn_deprecated

__all__ = ["DEFAULT_DIALECT", "Bound", "Shaping", "Source", "SqlEngine"]

DEFAULT_DIALECT = "spark"
_MAX_VIEW_DEPTH = 32

Source: TypeAlias = pa.Table | ds.Dataset | ScanPlan
"""What a bound query reads under an internal name: registered Arrow rows, a dataset or a planned scan."""

_TEMPLATES = TemplateCache()
"""Every engine's query templates (an engine lives for one run; its queries come back the next)."""
_STATEMENT_TEMPLATES = TemplateCache()
"""The templates of script statements' queries (an INSERT's SELECT), by the statement's text: apart from
`_TEMPLATES`, so `query()` never takes an INSERT's text for its SELECT."""

S = TypeVar("S")
"""The engine's per-statement session: a DuckDB cursor, a SparkSession."""


class Bound:
    """A query rewritten for the engine plus the sources it reads under internal names."""

    def __init__(self, expression: exp.Expression, sources: dict[str, Source], scans: list[ScanPlan],
                 aliases: list[ColumnAlias] | None = None) -> None:
        self.expression, self.sources, self.scans = expression, sources, scans
        self.aliases = aliases or []
        """Renamed columns the query read by their old name (the caller warns: a statement's `warnings`,
        or `towpath.sql.warn_deprecated`)."""

    @property
    def warnings(self) -> tuple[str, ...]:
        """One message per renamed column read by its old name, for the statement's result."""
        return tuple(alias.message() for alias in self.aliases)


@dataclass(frozen=True)
class Shaping:
    """How an INSERT's query columns become the table's: `shape_insert`'s arguments besides the rows."""

    columns: list[str]
    """The table's columns, in order."""
    target: InsertTarget
    constants: dict[str, pa.Scalar]
    """Static partition values, evaluated by the engine."""


class SqlEngine(abc.ABC, Generic[S]):
    """`Engine` over the project catalog for any SQL engine; see the module docstring."""

    name: ClassVar[str]
    dialect: ClassVar[str]

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.scans: list[ScanPlan] = []
        self._registered: dict[str, pa.Table] = {}
        self._views: dict[str, exp.Expression] = {}
        self._lock = threading.Lock()
        self._names = itertools.count()

    # -- engine hooks ---------------------------------------------------------------------------

    @abc.abstractmethod
    def _session(self) -> AbstractContextManager[S]:
        """A session for one query or script (released when the context exits)."""

    @abc.abstractmethod
    def _scan_source(self, plan: ScanPlan, sources: dict[str, Source]) -> exp.Table | exp.Subquery:
        """What to read in place of a planned catalog table (may add an entry to `sources`)."""

    @abc.abstractmethod
    def _execute(self, session: S, sql: str, sources: Mapping[str, Source], file: Path | str | None, line: int) -> pa.Table:
        """Run `sql` (in `self.dialect`) with `sources` readable under their names; rows as Arrow."""

    @abc.abstractmethod
    def to_arrow(self, data: Any) -> pa.Table:
        """Anything `write` accepts, as one Arrow table."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the engine's resources."""

    def internal_name(self, kind: str) -> str:
        """A fresh name for a source of one query (`_towpath_<kind>_<n>`)."""
        return f"_towpath_{kind}_{next(self._names)}"

    # -- public API -----------------------------------------------------------------------------

    def query(
        self,
        sql: str | exp.Expression,
        *,
        dialect: str | None = None,
        refs: Mapping[str, str] | None = None,
        file: Path | str | None = None,
    ) -> pa.Table:
        """Run one SELECT (in `dialect`, default Spark SQL) and return its rows as Arrow.

        A query given as text is bound through its kept `SlotTemplate` when it
        has one (`towpath.engines.templates`): the same SQL, without parsing,
        copying and generating it again.
        """
        template: SlotTemplate | None = None
        if isinstance(sql, exp.Expression):
            expression, line = sql, 1
            if not isinstance(expression, exp.Query):
                raise SqlError(f"query() runs a SELECT, got {describe(expression)}", file=file, line=line)
        else:
            template, expression, line = self._kept_or_parsed(sql, dialect or DEFAULT_DIALECT, file)
        refs_ = _refs(refs)
        with self._session() as session:
            filled = self._fill(template, refs_, file) if template is not None else None
            if filled is None:
                bound, text = self._bind_query(expression, refs_, file, line)
                sources, aliases = bound.sources, bound.aliases
            else:
                (sources, text), aliases = filled, []
            data = self._execute(session, text, sources, file, line)
        warn_deprecated(aliases)
        return data

    def file_counts(
        self, table: str, where: exp.Expr | None = None, *, refs: Mapping[str, str] | None = None
    ) -> ScanCounts | None:
        """The exact counts of `table`'s files whose rows are those `where` keeps, read from the catalog.

        None when the manifests cannot say (a condition that is not on whole
        files, a name that is a view or registered rows here): then only a
        query can count. `refs` reads a table's branch, as in `query`.
        """
        key = table.lower()
        with self._lock:
            if key in self._views or key in self._registered:
                return None
        try:
            ident = normalize_identifier(table)
            predicate = AlwaysTrue() if where is None else exact_filter(where, self.catalog.table(ident).schema())
            if predicate is None:
                return None
            return self.catalog.plan_scan(ident, predicate, _refs(refs).get(ident)).counts
        except CatalogError:  # no such table or branch, delete files: the query says so in its own words
            return None

    def _kept_or_parsed(
        self, sql: str, dialect: str, file: Path | str | None
    ) -> tuple[SlotTemplate | None, exp.Expression, int]:
        """The query text's template (kept, or built now), its tree and line; the tree alone if it has none."""
        key = (self.dialect, sql, dialect)
        try:
            template = _TEMPLATES.get(key)
        except KeyError:
            expression, line = self._one_query(sql, dialect, file)
            template = self._kept_template(_TEMPLATES, key, expression, line)
            return template, expression, line
        if template is None:
            return None, *self._one_query(sql, dialect, file)
        return template, template.tree, template.line

    def _kept_template(
        self, cache: TemplateCache, key: tuple[str, str, str], tree: exp.Expression, line: int
    ) -> SlotTemplate | None:
        """The template `cache` keeps for `key`, else one built now from `tree` (the template's from then on)."""
        try:
            return cache.get(key)
        except KeyError:
            template = build_template(tree, self.dialect, line)
            cache.put(key, template)
            return template

    def _one_query(self, sql: str, dialect: str, file: Path | str | None) -> tuple[exp.Expression, int]:
        """The one SELECT `sql` holds, and its line."""
        statements = parse_script(sql, dialect=dialect, file=file)
        if len(statements) != 1:
            raise SqlError(f"query() runs exactly one statement, got {len(statements)}", file=file, line=1)
        expression, line = statements[0].expression, statements[0].line
        if not isinstance(expression, exp.Query):
            raise SqlError(f"query() runs a SELECT, got {describe(expression)}", file=file, line=line)
        return expression, line

    def _fill(
        self, template: SlotTemplate, refs: dict[str, str], file: Path | str | None, line: int | None = None
    ) -> tuple[dict[str, Source], str] | None:
        """`template` bound to today's scans (its scans recorded), or None if `bind` must do it.

        That is when a table name is now a view or a registered table, or a
        table has renamed columns: `bind` resolves those on the whole tree.
        Errors name `line` (default: the template's).
        """
        with self._lock:
            shadowed = any(s.key in self._views or s.key in self._registered for s in template.slots)
            registered = dict(self._registered)
        schemas = CatalogSchemas(self.catalog)
        if shadowed or any(schemas.column_aliases(s.ident) for s in template.slots):
            return None
        tables = {id(s.table): (s.table, s.ident) for s in template.slots}
        planned = self._plan(tables, schemas, registered, refs, file, line or template.line)
        sources: dict[str, Source] = {}
        scans = [_aliased(self._scan_source(plan, sources), table).sql(dialect=self.dialect) for table, plan in planned]
        with self._lock:
            self.scans.extend(plan for _, plan in planned)
        return sources, template.fill(scans)

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
        # The kept trees, not copies: running a statement reads its tree (`bind` copies what it rewrites).
        statements = parse_script(script, dialect=dialect, file=file, shared=True)
        if not statements:
            raise SqlError("the script is empty: it holds no SQL statement (only blanks or comments)", file=file, line=1)
        for statement in statements:
            if statement.type == "unsupported":
                raise SqlError(unsupported(statement, self.name), file=file, line=statement.line)
        self._check_ddl(statements, file, dialect, allow_evolution)
        resolved_refs = _refs(refs)
        with self._session() as session:
            return [
                self._run_statement(session, s, file, dialect, resolved_refs, target, mode, allow_evolution)
                for s in statements
            ]

    def write(
        self,
        identifier: str,
        data: pa.Table | pa.RecordBatchReader | Any,
        *,
        mode: WriteMode,
        refs: Mapping[str, str] | None = None,
    ) -> StatementResult:
        """Write Arrow (or any frame the engine converts to Arrow) to a table, on its branch in `refs`."""
        ident = normalize_identifier(identifier)
        table = self.to_arrow(data)
        branch = _refs(refs).get(ident, MAIN)
        snapshot = self.catalog.write(ident, table, mode, branch=branch)
        return StatementResult("insert", 0, "", table=ident, rows=table.num_rows, snapshot_id=snapshot, action=mode)

    def register(self, name: str, data: pa.Table) -> None:
        """Expose `data` as `name` (`db.table` or a bare name); it shadows a catalog table of that name."""
        with self._lock:
            self._registered[name.strip().lower()] = self.to_arrow(data)

    def reset_scans(self) -> None:
        with self._lock:
            self.scans = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statements -----------------------------------------------------------------------------

    def _run_statement(
        self,
        session: S,
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
            if target is None:
                data, sql, notes = self._run_query(session, expression, refs, file, st.line)
                return StatementResult("select", st.line, sql, rows=data.num_rows, result=data, warnings=notes)
            ident = normalize_identifier(target)
            rows, snapshot, sql, notes = self._write_query(
                session, expression, ident, mode, refs, file, st.line, kept=self._statement_key(st, dialect)
            )
            return StatementResult("select", st.line, sql, table=ident, rows=rows, snapshot_id=snapshot, action=mode,
                                   warnings=notes)
        if st.type == "insert":
            return self._insert(session, st, file, refs, dialect)
        if st.type == "create_table":
            return self._create_table(st, file, dialect, allow_evolution)
        if st.type == "create_view":
            return self._create_view(session, st, file, refs)
        if st.type == "drop_table":
            return self._drop_table(st, file)
        if st.type == "drop_view":
            return self._drop_view(st, file)
        # USE and SET: the engine's session settings are the engine's; accepted so Spark scripts run unchanged.
        return StatementResult("other", st.line, expression.sql(dialect=self.dialect), action="ignored")

    def _check_ddl(self, statements: list[Statement], file: Path | str | None, dialect: str, allow_evolution: bool) -> None:
        """Check every `CREATE TABLE` of a script before the first runs, so a bad second DDL creates nothing.

        A table the script drops before re-creating is not compared with its old schema.
        """
        from towpath.catalog.ddl import check_ddl

        dropped: set[str] = set()
        for st in statements:
            if st.type == "drop_table":
                dropped.update(table_key(t) for t in st.expression.find_all(exp.Table))
            elif st.type == "create_table" and table_key(st.expression.find(exp.Table) or exp.Table()) not in dropped:
                assert isinstance(st.expression, exp.Create)  # classify() said so
                try:
                    check_ddl(self.catalog, st.expression, dialect=dialect, allow_evolution=allow_evolution)
                except CatalogError as err:
                    raise located(err, file=file, line=st.line) from None

    def _statement_key(self, st: Statement, dialect: str) -> tuple[str, str, str]:
        """What the template of a script statement's query is kept by (`_STATEMENT_TEMPLATES`)."""
        return self.dialect, st.text, dialect

    def _insert(
        self, session: S, st: Statement, file: Path | str | None, refs: dict[str, str], dialect: str
    ) -> StatementResult:
        assert isinstance(st.expression, exp.Insert)
        target = insert_target(st.expression)
        ident = _table_name(target.table, file, st.line)
        query = st.expression.expression
        if query is None:
            raise SqlError(f"INSERT into {ident} has no SELECT or VALUES", file=file, line=st.line)
        try:
            columns = [f.name for f in self.catalog.table(ident).schema().fields]
        except CatalogError as err:
            raise located(err, file=file, line=st.line) from None
        constants = {name: self._constant(session, value, file, st.line) for name, value in target.static.items()}
        mode: WriteMode = "dynamic_overwrite" if target.overwrite else "append"
        # An empty result is still written: the catalog then cuts the `refs` branch, so audits of a
        # Write-Audit-Publish run find the branch even on a day without data.
        rows, snapshot, sql, notes = self._write_query(
            session, query, ident, mode, refs, file, st.line, Shaping(columns, target, constants),
            kept=self._statement_key(st, dialect),
        )
        return StatementResult("insert", st.line, sql, table=ident, rows=rows, snapshot_id=snapshot, action=mode,
                               warnings=notes)

    def _create_table(self, st: Statement, file: Path | str | None, dialect: str, allow_evolution: bool) -> StatementResult:
        from towpath.catalog.ddl import apply_ddl  # the DDL room is optional for engines that only read

        assert isinstance(st.expression, exp.Create)  # classify() said so
        try:
            result = apply_ddl(self.catalog, st.expression, dialect=dialect, allow_evolution=allow_evolution)
        except CatalogError as err:
            raise located(err, file=file, line=st.line) from None
        return StatementResult("ddl", st.line, st.text, table=result.identifier, action=result.action)

    def _create_view(self, session: S, st: Statement, file: Path | str | None, refs: dict[str, str]) -> StatementResult:
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
        self._run_query(session, probe.limit(0), refs, file, st.line, record=False)
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
                raise located(TableNotFoundError(ident, self.catalog.list_tables()), file=file, line=st.line)
            self.catalog.drop_table(ident)
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
        session: S,
        query: exp.Expression,
        refs: dict[str, str],
        file: Path | str | None,
        line: int,
        *,
        record: bool = True,
        kept: tuple[str, str, str] | None = None,
    ) -> tuple[pa.Table, str, tuple[str, ...]]:
        """Rows, the SQL the engine ran, and a warning for each renamed column read by its old name."""
        bound, sql = self._bind_query(query, refs, file, line, record=record, kept=kept)
        return self._execute(session, sql, bound.sources, file, line), sql, bound.warnings

    def _bind_query(
        self, query: exp.Expression, refs: dict[str, str], file: Path | str | None, line: int, *, record: bool = True,
        kept: tuple[str, str, str] | None = None,
    ) -> tuple[Bound, str]:
        """`query` bound to what the engine reads, and its SQL in the engine's dialect; its scans recorded.

        With `kept` (`_statement_key`: `query` is a script statement's, from the kept parse), through the
        statement's `SlotTemplate` when it has one, as `query()` binds a query text; the `Bound` then holds
        `query` itself, its scans being in the SQL.
        """
        if kept is not None and record:
            template = self._kept_template(_STATEMENT_TEMPLATES, kept, query, line)
            filled = self._fill(template, refs, file, line) if template is not None else None
            if filled is not None:
                sources, sql = filled
                return Bound(query, sources, []), sql  # `_fill` recorded the scans
        bound = self.bind(query, refs, file, line)
        if record:
            with self._lock:
                self.scans.extend(bound.scans)
        # `bind` built this tree for us and nothing reads it after: the generator may transform it in place
        # rather than copy it first (a copy of the bound query cost more than its generation).
        return bound, bound.expression.sql(dialect=self.dialect, copy=False)

    def _write_query(
        self,
        session: S,
        query: exp.Expression,
        ident: str,
        mode: WriteMode,
        refs: dict[str, str],
        file: Path | str | None,
        line: int,
        shaping: Shaping | None = None,
        kept: tuple[str, str, str] | None = None,
    ) -> tuple[int, int | None, str, tuple[str, ...]]:
        """Run `query` and write its rows to `ident` (shaped as an INSERT's if `shaping`).

        Returns the rows written, the snapshot, the SQL and the renamed-column
        warnings. Here the rows come back as Arrow and go through `Catalog.write`;
        an engine with executors of its own overrides it to write where the rows are.
        `kept` as for `_bind_query`.
        """
        data, sql, notes = self._run_query(session, query, refs, file, line, kept=kept)
        if shaping is not None:
            try:
                data = shape_insert(data, shaping.columns, shaping.target, shaping.constants)
            except ValueError as err:
                raise SqlError(f"INSERT into {ident}: {err}", file=file, line=line) from None
        return data.num_rows, self._write(ident, data, mode, refs, file, line), sql, notes

    def _constant(self, session: S, value: exp.Expression, file: Path | str | None, line: int) -> pa.Scalar:
        """Evaluate a static partition value (`'2022-01-01'`, `DATE '2022-01-01'`, `3`) in the engine."""
        result = self._execute(session, exp.select(value.copy()).sql(dialect=self.dialect), {}, file, line)
        return result.column(0)[0]

    def bind(self, query: exp.Expression, refs: Mapping[str, str], file: Path | str | None, line: int) -> Bound:
        """Replace every table reference in `query` by what the engine should read.

        Order of resolution for a name: a CTE of the query, a session view, a
        registered Arrow table, then (if qualified) the catalog. Views expand
        into subqueries here, so their tables are pruned and redirected by
        `refs` like any other read. A column named by the old name of a rename
        still in its grace period reads the new column (`towpath.sql.resolve_aliases`);
        the aliases used are on the result, for the caller to warn about.
        """
        refs = _refs(refs)
        root = query.copy()
        sources: dict[str, Source] = {}
        scans: list[ScanPlan] = []
        with self._lock:
            views = dict(self._views)
            registered = dict(self._registered)
        holder = exp.Subquery(this=root)  # lets us replace the root itself
        schemas = CatalogSchemas(self.catalog)  # each table loaded once per query, for aliases and pruning
        aliases: list[ColumnAlias] = []
        pending: list[tuple[exp.Expression, int]] = [(root, 0)]
        while pending:
            node, depth = pending.pop()
            if depth > _MAX_VIEW_DEPTH:
                raise SqlError("views nest too deeply (a view that reads itself?)", file=file, line=line)
            ctes = cte_names(node)
            tables = [t for t in node.find_all(exp.Table) if isinstance(t.this, exp.Identifier)]
            catalog_tables: dict[int, tuple[exp.Table, str]] = {}
            for table in tables:
                key = table_key(table)
                if not table.args.get("db") and key in ctes:
                    continue
                if key in views:
                    alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
                    expanded = exp.Subquery(this=views[key].copy(), alias=alias.copy())
                    table.replace(expanded)
                    pending.append((expanded.this, depth + 1))
                elif key in registered:
                    internal = self.internal_name("arrow")
                    sources[internal] = registered[key]
                    table.replace(_aliased(exp.to_table(internal), table))
                elif table.args.get("db"):
                    catalog_tables[id(table)] = (table, normalize_identifier(key))
            if any(schemas.column_aliases(ident) for _, ident in catalog_tables.values()):  # scopes only if needed
                for alias in resolve_aliases(node, schemas, schemas.column_aliases):
                    if alias.finished is not None:
                        raise SqlError(alias.gone(), file=file, line=line)
                    if alias not in aliases:
                        aliases.append(alias)
            for table, plan in self._plan(catalog_tables, schemas, registered, refs, file, line):
                scans.append(plan)
                table.replace(_aliased(self._scan_source(plan, sources), table))
        return Bound(holder.this, sources, scans, aliases)

    def _plan(
        self,
        tables: dict[int, tuple[exp.Table, str]],
        schemas: CatalogSchemas,
        registered: Mapping[str, pa.Table],
        refs: dict[str, str],
        file: Path | str | None,
        line: int,
    ) -> list[tuple[exp.Table, ScanPlan]]:
        """Plan every catalog table of one query (before any is replaced, so joins see each other's columns:
        `towpath.sql` attributes each WHERE column to its table from the same `schemas`)."""
        loaded = {}
        for key, (_, ident) in tables.items():
            iceberg = schemas.table(ident)
            if iceberg is None:
                known = self.catalog.list_tables() + [n for n in registered if "." in n]
                raise located(TableNotFoundError(ident, known), file=file, line=line)
            loaded[key] = iceberg.schema()
        out = []
        for key, (table, ident) in tables.items():
            predicate: BooleanExpression = row_filter(table, loaded[key], schemas)
            try:
                plan = self.catalog.plan_scan(ident, predicate, refs.get(ident))
            except CatalogError as err:
                raise located(err, file=file, line=line) from None
            out.append((table, plan))
        return out

    def _write(
        self, ident: str, data: pa.Table, mode: WriteMode, refs: dict[str, str], file: Path | str | None, line: int
    ) -> int | None:
        try:
            return self.catalog.write(ident, data, mode, branch=refs.get(ident, MAIN))
        except CatalogError as err:  # a ConflictError stays one: callers retry on it
            raise located(err, file=file, line=line) from None


def _refs(refs: Mapping[str, str] | None) -> dict[str, str]:
    return {normalize_identifier(k): v for k, v in (refs or {}).items()}


def _table_name(table: exp.Expression, file: Path | str | None, line: int) -> str:
    if not isinstance(table, exp.Table) or not table.args.get("db"):
        raise SqlError(f"'{table.sql()}' must be a table qualified as namespace.table", file=file, line=line)
    return normalize_identifier(table_key(table))


def _view_name(node: exp.Expression) -> str:
    return table_key(node) if isinstance(node, exp.Table) else node.name.lower()


def _aliased(source: exp.Table | exp.Subquery, original: exp.Table) -> exp.Table | exp.Subquery:
    """`source` under the alias `original` had (or its bare name), so column qualifiers still bind."""
    alias = original.args.get("alias") or exp.TableAlias(this=exp.to_identifier(original.name))
    source.set("alias", alias.copy())
    return source

