"""Run audits through any engine: the caller hands in a `query(sql) -> pa.Table` function.

Keeping execution behind one callable lets the WAP runner point audits at a
branch (its engine redirects `db.table` to the branch) while tests use a plain
DuckDB connection. Failing rows are counted by the engine (`COUNT(*)` over the
failing-rows query) and only `sample_size` of them travel back to Python.

A WAP's audits usually read the same staged table, so `run_audits` counts all
of them in one query (one bind, one scan plan, one engine round trip) and asks
again, one audit at a time, only for failing samples, or when that combined
query fails (so the error names the audit that caused it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from towpath.audits.base import Audit, get_audit
from towpath.audits.spec import AuditSpec
from towpath.errors import AuditError, EngineError

QueryFn = Callable[[str], pa.Table]
"""Runs one SQL string (in the target dialect) and returns the result as Arrow."""


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
) -> list[AuditResult]:
    """Run every audit in order and return one result each (failures do not stop the rest).

    Args:
        specs: audits as written in the workflow (`AuditSpec` or plain mappings).
        query: runs a `target_dialect` SQL string that names tables as `db.table`.
        default_table: table for audits without a `table` param (a WAP template's table).
        dialect: dialect of user-written fragments (`where`, `custom_sql`).
        sample_size: failing rows to fetch per failing audit.
        target_dialect: dialect `query` understands.

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
    counts = _count_together(planned, query, target_dialect) if len(planned) > 1 else None
    return [
        plan.finish(query, sample_size, target_dialect, count=None if counts is None else counts[index])
        for index, plan in enumerate(planned)
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
) -> AuditResult:
    """Run one audit; see `run_audits`."""
    plan = _Planned.of(spec, default_table=default_table, dialect=dialect, label=label or spec.display_name)
    return plan.finish(query, sample_size, target_dialect)


@dataclass(frozen=True)
class _Planned:
    """An audit built from its spec, with its failing-rows query, not yet run."""

    spec: AuditSpec
    audit: Audit[Any]
    failing: exp.Query

    @classmethod
    def of(cls, spec: AuditSpec, *, default_table: str | None, dialect: str, label: str) -> _Planned:
        audit = get_audit(spec.function).build(spec.params, default_table=default_table, dialect=dialect, label=label)
        return cls(spec, audit, audit.failing_rows())

    def count_query(self, alias: str) -> exp.Select:
        """`SELECT COUNT(*) AS alias` over a copy of the failing-rows query."""
        count = exp.alias_(exp.Count(this=exp.Star()), alias)
        return exp.select(count).from_(self.failing.subquery("failing"), copy=False)

    def finish(self, query: QueryFn, sample_size: int, target_dialect: str, *, count: int | None = None) -> AuditResult:
        """The result, counting the failing rows first unless `count` is already known."""
        spec, audit = self.spec, self.audit
        sql = self.failing.sql(dialect=target_dialect)
        shown_table = audit.table or "custom SQL"
        try:
            if count is None:
                count = int(query(self.count_query("failing_rows").sql(dialect=target_dialect)).column(0)[0].as_py())
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


def _count_together(planned: Sequence[_Planned], query: QueryFn, target_dialect: str) -> list[int] | None:
    """Every audit's failing-row count from one query (one row, a column each), or None if it fails.

    The counts are one-row aggregates cross-joined, which every engine runs; a
    failure (one audit's bad column) leaves the per-audit path to name the culprit.
    """
    combined = exp.select(exp.Star()).from_(planned[0].count_query("c0").subquery("a0", copy=False), copy=False)
    for index, plan in enumerate(planned[1:], start=1):  # copy=False: sqlglot would copy the whole tree per join
        counted = plan.count_query(f"c{index}").subquery(f"a{index}", copy=False)
        combined = combined.join(counted, join_type="cross", copy=False)
    try:
        row = query(combined.sql(dialect=target_dialect))
    except EngineError:
        return None
    return [int(row.column(f"c{index}")[0].as_py()) for index in range(len(planned))]
