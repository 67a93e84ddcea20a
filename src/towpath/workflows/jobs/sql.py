"""`sql` jobs: a script (DDL, INSERT OVERWRITE/INTO, or a SELECT written to a target)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import model_validator
from sqlglot import exp

from towpath.config import invalid
from towpath.config.params import substitute_script
from towpath.errors import SpecError, SqlError
from towpath.status import Status
from towpath.workflows.jobs import JobType, Write
from towpath.workflows.results import JobResult
from towpath.workflows.spec.base import WriteJobSpec, WriteMode

if TYPE_CHECKING:
    from towpath.workflows.context import RunContext
    from towpath.workflows.preflight import Preflight

__all__ = ["SqlJob", "SqlJobSpec", "script_text"]


class SqlJobSpec(WriteJobSpec):
    """Run a SQL script (DDL, `INSERT`, or a bare `SELECT` written to `target`)."""

    type: Literal["sql"]
    script: str | None = None
    """Path of a `.sql` file, relative to the workflow file."""
    sql: str | None = None
    """Inline SQL, instead of `script`."""
    dialect: str | None = None
    """SQL dialect of the script (default: the project's `dialect`)."""
    target: str | None = None
    """Table (`db.table`) that receives the rows of a bare `SELECT`."""
    mode: WriteMode = "dynamic_overwrite"
    """How `target` is written: `append`, `overwrite`, or `dynamic_overwrite` (replace the partitions present)."""
    allow_evolution: bool = False
    """Let a write add new columns to `target` instead of failing on a schema mismatch."""

    @model_validator(mode="after")
    def _one_source(self) -> SqlJobSpec:
        if (self.script is None) == (self.sql is None):
            raise invalid("give exactly one of 'script' (a file) and 'sql' (inline SQL)")
        return self


def script_text(spec: SqlJobSpec, workflow_dir: Path, params: Mapping[str, str]) -> tuple[str, Path | str]:
    """The job's SQL with `params` substituted, and the file it came from (for error positions).

    A `script` is relative to the workflow file's folder; inline `sql` is named `<job-id.sql>`.
    """
    if spec.script:
        path = (workflow_dir / spec.script).resolve()
        if not path.is_file():
            raise SpecError(f"script not found: {path}", field=f"{spec.id}.script")
        return substitute_script(path.read_text(), params, file=path), path
    assert spec.sql is not None  # one of the two, by validation
    return substitute_script(spec.sql, params, file=f"<{spec.id}.sql>"), f"<{spec.id}.sql>"


class SqlJob(JobType[SqlJobSpec]):
    """Runs through the engine's script runner (statements parsed before any runs)."""

    name = "sql"
    SPEC = SqlJobSpec
    WRITES_IN_WAP = True

    @classmethod
    def check(cls, spec: SqlJobSpec, preflight: Preflight) -> None:
        preflight.sql(spec)
    DEFAULT_DIALECT: ClassVar[str] = "spark"
    """Dialect used to read a script at load time when the job names none (the project default)."""

    @classmethod
    def run(cls, spec: SqlJobSpec, ctx: RunContext) -> JobResult:
        started = time.perf_counter()
        text, source = script_text(spec, ctx.workflow_dir, ctx.params)
        statements = ctx.engine.run_script(
            text,
            file=source,
            dialect=spec.dialect or ctx.config.dialect,
            refs=ctx.refs,
            target=spec.target,
            mode=spec.mode,
            allow_evolution=spec.allow_evolution,
        )
        written = [s for s in statements if s.kind == "insert" or (s.kind == "select" and s.table)]
        snapshots = {s.table: s.snapshot_id for s in statements if s.table and s.snapshot_id is not None}
        return JobResult(
            job_id=spec.id,
            job_type="sql",
            status=Status.SUCCESS,
            duration_s=time.perf_counter() - started,
            rows_written=sum(s.rows or 0 for s in written) if written else None,
            snapshots=snapshots,
            warnings=list(dict.fromkeys(w for s in statements for w in s.warnings)),
            details={"statements": [{"kind": s.kind, "line": s.line, "table": s.table, "action": s.action,
                                     "rows": s.rows} for s in statements]},
        )

    @classmethod
    def plan(cls, spec: SqlJobSpec, workflow_dir: Path, params: Mapping[str, str]) -> str | None:
        return script_text(spec, workflow_dir, params)[0]

    @classmethod
    def writes(cls, spec: SqlJobSpec, workflow_dir: Path, params: Mapping[str, str]) -> list[Write]:
        """`target` plus every `INSERT` target of the script (a script that cannot be read yet is
        reported by the run's own checks; its `target` still counts)."""
        tables = [Write(spec.target, "target")] if spec.target else []
        from towpath.engines.script import parse_script

        try:
            text = script_text(spec, workflow_dir, params)[0]
            statements = [s.expression for s in parse_script(text, dialect=spec.dialect or cls.DEFAULT_DIALECT, shared=True)]
        except (SpecError, SqlError):
            return tables
        for statement in statements:
            if isinstance(statement, exp.Insert):
                table = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
                if isinstance(table, exp.Table):
                    tables.append(Write(".".join(part.name for part in table.parts), "script" if spec.script else "sql"))
        return tables
