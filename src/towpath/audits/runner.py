"""Run audits through any engine: the caller hands in a `query(sql) -> pa.Table` function.

Keeping execution behind one callable lets the WAP runner point audits at a
branch (its engine redirects `db.table` to the branch) while tests use a plain
DuckDB connection. Failing rows are counted by the engine (`COUNT(*)` over the
failing-rows query) and only `sample_size` of them travel back to Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from towpath.audits.base import get_audit
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
    results = []
    for index, raw in enumerate(specs):
        spec = raw if isinstance(raw, AuditSpec) else AuditSpec.model_validate(raw)
        results.append(
            run_audit(
                spec,
                query,
                default_table=default_table,
                dialect=dialect,
                sample_size=sample_size,
                target_dialect=target_dialect,
                label=f"audits[{index}]",
            )
        )
    return results


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
    audit_cls = get_audit(spec.function)
    audit = audit_cls.build(
        spec.params, default_table=default_table, dialect=dialect, label=label or spec.display_name
    )
    failing = audit.failing_rows()
    sql = failing.sql(dialect=target_dialect)
    count_sql = exp.select(exp.alias_(exp.Count(this=exp.Star()), "failing_rows")).from_(
        failing.subquery("failing")
    )
    shown_table = audit.table or "custom SQL"
    try:
        count = int(query(count_sql.sql(dialect=target_dialect)).column(0)[0].as_py())
        sample: list[dict[str, Any]] = []
        if count:
            sample_sql = exp.select(exp.Star()).from_(failing.subquery("failing")).limit(sample_size)
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
