"""`move` jobs: move a table into a key-value store as a new audited version, inside a workflow.

```yaml
- template:
    id: publish_profiles
    type: wap
    write_jobs: [...]
- job:
    id: profiles_to_kv
    type: move
    file: profiles.move.yaml      # relative to the workflow file; ${VAR}s are the run's parameters
    depends_on: [publish_profiles]
```

Placed after a WAP step, the move reads the snapshot that step just published
(it pins `main`'s head when it starts); a daily with `trigger: {hwm_of: ...}`
runs it whenever the table's mark advances. The move belongs to the workflow's
run, so a kill -9 of the run is found by the next move or `towpath move status`
and its partial namespace dropped.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from towpath.errors import TowpathError
from towpath.status import Status
from towpath.workflows.jobs import JobType
from towpath.workflows.results import JobResult
from towpath.workflows.spec.base import JobSpec

if TYPE_CHECKING:
    from towpath.workflows.context import RunContext
    from towpath.workflows.preflight import Preflight

__all__ = ["MoveJob", "MoveJobSpec"]


class MoveJobSpec(JobSpec):
    """Run a `*.move.yaml`: write a new version of its KV namespace, audit it, swap the alias."""

    type: Literal["move"]
    file: str
    """The move file, relative to the workflow file."""
    dry_run: bool = False
    """Validate only (the source, keys and schema); write nothing."""


class MoveJob(JobType[MoveJobSpec]):
    name = "move"
    SPEC = MoveJobSpec

    @classmethod
    def check(cls, spec: MoveJobSpec, preflight: Preflight) -> None:
        from towpath.moves import load_move
        from towpath.workflows.loader import job_params

        if preflight.skip(spec.file):
            return
        path = preflight.spec.relative(spec.file)
        if not path.exists():
            preflight.at(f"move file not found: {path}", "file")
            return
        try:
            move = load_move(path, job_params(preflight.spec, spec))
        except TowpathError as exc:
            preflight.error(exc, "file")
            return
        if move.data_movement.source.table is not None:
            preflight.table(move.data_movement.source.table, "file", read=True)

    @classmethod
    def lineage(cls, spec: MoveJobSpec, preflight: Preflight) -> None:
        """The source table (or the query's tables) -> the KV namespace, key and value columns
        (`towpath.lineage.move_lineage`)."""
        from towpath.lineage import move_lineage
        from towpath.moves import load_move
        from towpath.workflows.loader import job_params

        if preflight.skip(spec.file):
            return
        try:
            move = load_move(preflight.spec.relative(spec.file), job_params(preflight.spec, spec))
        except (TowpathError, OSError):
            return  # `check` reported it
        move_lineage(preflight.lineage, preflight.job, move, preflight.tables, project=preflight.project.config.name)

    @classmethod
    def run(cls, spec: MoveJobSpec, ctx: RunContext) -> JobResult:
        from towpath.moves import MoveWorkspace, load_move, run_move

        started = time.perf_counter()
        move = load_move(ctx.workflow_dir / spec.file, ctx.params)
        workspace = MoveWorkspace(ctx.catalog, ctx.state, ctx.workflow_dir, lambda: ctx.engine, run_id=ctx.run_id,
                                  engine_config=ctx.config.engine)
        result = run_move(move, workspace, dry_run=spec.dry_run)
        return JobResult(
            job_id=spec.id, job_type="move", status=Status.SUCCESS, duration_s=time.perf_counter() - started,
            details=result.to_json(),
        )
