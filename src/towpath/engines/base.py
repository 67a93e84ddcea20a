"""The contract every engine honours, and what running a statement reports.

Capabilities (workflows, audits, mocks) talk to an engine only through
`Engine`; they never check which engine they hold. An engine speaks one SQL
dialect (`Engine.dialect`) and transpiles job SQL from the project's dialect
(Spark SQL by default) with sqlglot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import pyarrow as pa
from sqlglot import exp

from towpath.catalog import ScanCounts, ScanPlan, WriteMode

__all__ = ["Engine", "StatementKind", "StatementResult", "WriteMode"]

StatementKind = Literal["ddl", "insert", "select", "other"]


@dataclass(frozen=True)
class StatementResult:
    """What one statement of a script did (or what one `Engine.write` did)."""

    kind: StatementKind
    line: int
    """1-based line in the script where the statement starts (0 for `Engine.write`, which has no script)."""
    sql: str
    """The statement as the engine ran it (transpiled; table reads replaced by the files they scan)."""
    table: str | None = None
    """The table written or created, as `namespace.table`."""
    rows: int | None = None
    """Rows written (INSERT, SELECT into a target) or returned (a SELECT without target)."""
    snapshot_id: int | None = None
    """The snapshot a write committed (on the branch it wrote to)."""
    action: str | None = None
    """`created`, `unchanged`, `evolved` (DDL), the write mode of a write, `view`, `dropped`, `ignored`."""
    result: pa.Table | None = None
    """Rows of a SELECT that had no target."""
    warnings: tuple[str, ...] = ()
    """What the statement's user should change (a renamed column read by its old name)."""


@runtime_checkable
class Engine(Protocol):
    """Runs SQL over the project's Iceberg tables and writes results back through the catalog.

    `refs` maps `namespace.table` to a branch: reads of that table see the
    branch head and writes to it land on the branch. That is how
    Write-Audit-Publish points a job at its audit branch without changing the
    job's SQL. Tables absent from `refs` read and write `main`.
    """

    name: ClassVar[str]
    """Registry name (`towpath.yaml` -> `engine.type`)."""
    dialect: ClassVar[str]
    """The sqlglot dialect the engine executes."""

    scans: list[ScanPlan]
    """Every scan planned since the last `reset_scans()`: evidence of partition pruning."""

    def query(
        self,
        sql: str | exp.Expression,
        *,
        dialect: str | None = None,
        refs: Mapping[str, str] | None = None,
        file: Path | str | None = None,
    ) -> pa.Table:
        """Run one query and return its rows."""
        ...

    def file_counts(
        self, table: str, where: exp.Expr | None = None, *, refs: Mapping[str, str] | None = None
    ) -> ScanCounts | None:
        """Exact counts of the files holding `table`'s rows where `where` holds, from the catalog's
        manifests; None when only a query can count (`towpath.catalog.counts`)."""
        ...

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
        """Run every statement of a script in order; a bare SELECT writes to `target` if given."""
        ...

    def write(
        self,
        identifier: str,
        data: pa.Table | pa.RecordBatchReader | Any,
        *,
        mode: WriteMode,
        refs: Mapping[str, str] | None = None,
    ) -> StatementResult:
        """Write Arrow (or anything exporting an Arrow stream) to a table, on its branch in `refs`."""
        ...

    def register(self, name: str, data: pa.Table) -> None:
        """Expose `data` under `name` (may be `db.table`) for later queries; it shadows catalog tables."""
        ...

    def to_arrow(self, data: Any) -> pa.Table:
        """What a job returned (Arrow, a reader, a Polars/pandas frame, the engine's own frame) as one Arrow table."""
        ...

    def reset_scans(self) -> None:
        """Forget the scans recorded so far."""
        ...

    def close(self) -> None:
        """Release the engine's resources; the engine is unusable afterwards."""
        ...
