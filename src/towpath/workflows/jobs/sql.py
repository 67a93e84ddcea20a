"""`sql` jobs: a script (DDL, INSERT OVERWRITE/INTO, or a SELECT written to a target)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from towpath.config.params import substitute_script
from towpath.errors import SpecError
from towpath.workflows.context import RunContext
from towpath.workflows.results import JobResult


def script_text(spec: Any, workflow_dir: Path, params: Mapping[str, str]) -> tuple[str, Path | str]:
    """The job's SQL with `params` substituted, and the file it came from (for error positions).

    A `script` is relative to the workflow file's folder; inline `sql` is named `<job-id.sql>`.
    """
    if spec.script:
        path = (workflow_dir / spec.script).resolve()
        if not path.is_file():
            raise SpecError(f"script not found: {path}", field=f"{spec.id}.script")
        return substitute_script(path.read_text(), params, file=path), path
    return substitute_script(spec.sql, params, file=f"<{spec.id}.sql>"), f"<{spec.id}.sql>"


def run_sql_job(spec: Any, ctx: RunContext) -> JobResult:
    started = time.perf_counter()
    text, source = script_text(spec, ctx.workflow_dir, ctx.params)
    statements = ctx.engine.run_script(
        text,
        file=source,
        dialect=spec.dialect or ctx.project.config.dialect,
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
        status="success",
        duration_s=time.perf_counter() - started,
        rows_written=sum(s.rows or 0 for s in written) if written else None,
        snapshots=snapshots,
        details={"statements": [{"kind": s.kind, "line": s.line, "table": s.table, "action": s.action, "rows": s.rows}
                                for s in statements]},
    )
