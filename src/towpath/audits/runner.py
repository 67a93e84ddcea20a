"""Run audits through any engine: the caller hands in a `query(sql) -> pa.Table` function.

Keeping execution behind one callable lets the WAP runner point audits at a
branch (its engine redirects `db.table` to the branch) while tests use a plain
DuckDB connection. Failing rows are counted by the engine (`COUNT(*)` over the
failing-rows query) and only `sample_size` of them travel back to Python.

An audit that only counts rows or NULLs is first asked to answer from the
catalog's metadata (`file_counts`, see `Audit.count_from_metadata`): on whole
partitions the manifests hold the exact counts, so it reads no row. The rest
usually read the same staged table, so `run_audits` counts them in one query
(one bind, one scan plan, one engine round trip) and asks again, one audit at
a time, only for failing samples, or when that combined query fails (so the
error names the audit that caused it).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from towpath.audits.base import Audit, get_audit
from towpath.audits.spec import AuditSpec
from towpath.errors import AuditError, EngineError

if TYPE_CHECKING:
    from towpath.catalog import ScanCounts

QueryFn = Callable[[str], pa.Table]
"""Runs one SQL string (in the target dialect) and returns the result as Arrow."""
FileCountsFn = Callable[[str, exp.Expr | None], "ScanCounts | None"]
"""The exact counts of a table's (`db.table`) rows where a condition holds, from the catalog's
metadata, or None when only a query can count them (`Engine.file_counts`, bound to the audited refs)."""


@dataclass(frozen=True)
class AuditResult:
    """The outcome of one audit: counts, a few failing rows, and the SQL to reproduce it."""

    name: str
    function: str
    table: str
    blocking: bool
    passed: bool
    failing_rows: int
    sample: list[dict[str, Any]]
    message: str
    sql: str
    """The failing-rows query as run (paste it into `towpath query` to see every failing row)."""


def run_audits(
    specs: Sequence[AuditSpec | Mapping[str, Any]],
    query: QueryFn,
    *,
    default_table: str | None = None,
    dialect: str = "duckdb",
    sample_size: int = 5,
    target_dialect: str = "duckdb",
    file_counts: FileCountsFn | None = None,
) -> list[AuditResult]:
    """Run every audit in order and return one result each (failures do not stop the rest).

    Args:
        specs: audits as written in the workflow (`AuditSpec` or plain mappings).
        query: runs a `target_dialect` SQL string that names tables as `db.table`.
        default_table: table for audits without a `table` param (a WAP template's table).
        dialect: dialect of user-written fragments (`where`, `custom_sql`).
        sample_size: failing rows to fetch per failing audit.
        target_dialect: dialect `query` understands.
        file_counts: answers counting audits from metadata where it can (the rest run `query`).

    Raises:
        SpecError: an audit's parameters are invalid.
        UnknownNameError: an audit function does not exist.
        AuditError: the engine could not run an audit (e.g. a column does not exist).
    """
    planned = [
        _Planned.of(
            raw if isinstance(raw, AuditSpec) else AuditSpec.model_validate(raw),
            default_table=default_table,
            dialect=dialect,
            label=f"audits[{index}]",
        )
        for index, raw in enumerate(specs)
    ]
    known = [plan.from_metadata(file_counts) if file_counts is not None else None for plan in planned]
    unknown = [plan for plan, count in zip(planned, known, strict=True) if count is None]
    together = iter(_count_together(unknown, query, target_dialect) or ()) if len(unknown) > 1 else iter(())
    return [
        plan.finish(query, sample_size, target_dialect, count=next(together, None) if count is None else count)
        for plan, count in zip(planned, known, strict=True)
    ]


def run_audit(
    spec: AuditSpec,
    query: QueryFn,
    *,
    default_table: str | None = None,
    dialect: str = "duckdb",
    sample_size: int = 5,
    target_dialect: str = "duckdb",
    label: str | None = None,
    file_counts: FileCountsFn | None = None,
) -> AuditResult:
    """Run one audit; see `run_audits`."""
    plan = _Planned.of(spec, default_table=default_table, dialect=dialect, label=label or spec.display_name)
    count = plan.from_metadata(file_counts) if file_counts is not None else None
    return plan.finish(query, sample_size, target_dialect, count=count)


@dataclass(frozen=True, eq=False)
class _Planned:
    """An audit built from its spec, with its failing-rows query, not yet run.

    Plans are kept by what they are built from (`of`): a scheduler or the
    resident worker runs the same audits run after run, and building and
    printing their queries is sqlglot work, ~2 ms an audit. A plan is safe to
    share: nothing changes `failing` (every query built on it copies it).
    """

    spec: AuditSpec
    audit: Audit[Any]
    failing: exp.Query
    printed: dict[str, str] = field(default_factory=dict)
    """`failing` as SQL by dialect, and its count query by `count:<dialect>`."""

    @classmethod
    def of(cls, spec: AuditSpec, *, default_table: str | None, dialect: str, label: str) -> _Planned:
        audit_type = get_audit(spec.function)
        if not _plain(spec.params):  # objects of the caller's: no key can say they are the same next time
            return _build(audit_type, spec, default_table, dialect, label)
        key = (audit_type, spec.function, spec.blocking, spec.name, repr(spec.params), default_table, dialect, label)
        if (known := _PLANS.get(key)) is None:
            known = _build(audit_type, spec, default_table, dialect, label)
            with _PLANS_LOCK:  # a scheduler runs audits on several threads
                _PLANS[key] = known
                while len(_PLANS) > _PLANS_KEPT:
                    del _PLANS[next(iter(_PLANS))]
        return known

    def from_metadata(self, file_counts: FileCountsFn) -> int | None:
        """The failing-row count as the catalog's metadata tells it, or None (`Audit.count_from_metadata`)."""
        audit = self.audit
        if not audit.table:
            return None

        def counts(conditions: Sequence[exp.Expr]) -> ScanCounts | None:
            scope = [*audit.where(), *conditions]
            return file_counts(audit.table, exp.and_(*scope) if scope else None)

        return audit.count_from_metadata(counts)

    def failing_sql(self, dialect: str) -> str:
        if (sql := self.printed.get(dialect)) is None:
            sql = self.printed[dialect] = self.failing.sql(dialect=dialect)
        return sql

    def counting_sql(self, dialect: str) -> str:
        """`count_query` as SQL, kept like `failing_sql` (printing it is ~0.5 ms of sqlglot per run)."""
        key = f"count:{dialect}"
        if (sql := self.printed.get(key)) is None:
            sql = self.printed[key] = self.count_query("failing_rows").sql(dialect=dialect)
        return sql

    def count_query(self, alias: str) -> exp.Select:
        """`SELECT COUNT(*) AS alias` over a copy of the failing-rows query."""
        count = exp.alias_(exp.Count(this=exp.Star()), alias)
        return exp.select(count).from_(self.failing.subquery("failing"), copy=False)

    def finish(self, query: QueryFn, sample_size: int, target_dialect: str, *, count: int | None = None) -> AuditResult:
        """The result, counting the failing rows first unless `count` is already known."""
        spec, audit = self.spec, self.audit
        sql = self.failing_sql(target_dialect)
        shown_table = audit.table or "custom SQL"
        try:
            if count is None:
                count = int(query(self.counting_sql(target_dialect)).column(0)[0].as_py())
            sample: list[dict[str, Any]] = []
            if count:
                sample_sql = exp.select(exp.Star()).from_(self.failing.subquery("failing")).limit(sample_size)
                sample = query(sample_sql.sql(dialect=target_dialect)).to_pylist()
        except EngineError as exc:
            raise AuditError(
                f"audit {spec.display_name} on {shown_table} could not run: {exc}\n  SQL: {sql}"
            ) from exc
        if count:
            message = f"{spec.display_name} on {shown_table}: {audit.describe(count, sample)}"
        else:
            message = f"{spec.display_name} on {shown_table}: passed"
        return AuditResult(
            name=spec.display_name,
            function=spec.function,
            table=audit.table,
            blocking=spec.blocking,
            passed=count == 0,
            failing_rows=count,
            sample=sample,
            message=message,
            sql=sql,
        )


_PLANS: dict[tuple[object, ...], _Planned] = {}
_PLANS_KEPT = 256
_PLANS_LOCK = threading.Lock()


def _build(audit_type: type[Audit[Any]], spec: AuditSpec, default_table: str | None, dialect: str,
           label: str) -> _Planned:
    audit = audit_type.build(spec.params, default_table=default_table, dialect=dialect, label=label)
    return _Planned(spec, audit, audit.failing_rows())


def _plain(value: object) -> bool:
    """Whether `value` is made of what a workflow file holds (its `repr` then says exactly what it is)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool | dt.date | dt.datetime | dt.time)


def _count_together(planned: Sequence[_Planned], query: QueryFn, target_dialect: str) -> list[int] | None:
    """Every audit's failing-row count from one query (one row, a column each), or None if it fails.

    The counts are one-row aggregates cross-joined, which every engine runs; a
    failure (one audit's bad column) leaves the per-audit path to name the culprit.
    """
    try:
        row = query(_counting_sql(tuple(planned), target_dialect))
    except EngineError:
        return None
    return [int(row.column(f"c{index}")[0].as_py()) for index in range(len(planned))]


@lru_cache(maxsize=64)
def _counting_sql(planned: tuple[_Planned, ...], target_dialect: str) -> str:
    """`_count_together`'s query, kept for the same (kept) plans."""
    combined = exp.select(exp.Star()).from_(planned[0].count_query("c0").subquery("a0", copy=False), copy=False)
    for index, plan in enumerate(planned[1:], start=1):  # copy=False: sqlglot would copy the whole tree per join
        counted = plan.count_query(f"c{index}").subquery(f"a{index}", copy=False)
        combined = combined.join(counted, join_type="cross", copy=False)
    return combined.sql(dialect=target_dialect)
