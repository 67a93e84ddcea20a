"""`cdc` jobs: catch a table up from its `*.cdc.yaml` before the steps that read it (e.g. a WAP).

```yaml
- job:
    id: catch_up_patients
    type: cdc
    spec: cdc/patients.cdc.yaml      # relative to the workflow file
    until_caught_up: true            # default; false runs for max_seconds
```

The job applies every change the source had committed when it started, then
ends, so the next step reads the lake table as of that moment; it is the same
run as `towpath cdc run FILE --until-caught-up` (exactly once, snapshot when new).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from towpath.config import find_project_root
from towpath.errors import TowpathError, WorkflowError, first_line
from towpath.status import Status
from towpath.workflows.jobs import JobType, Write
from towpath.workflows.results import JobResult
from towpath.workflows.spec.base import JobSpec

if TYPE_CHECKING:
    from towpath.workflows.context import RunContext
    from towpath.workflows.preflight import Preflight

__all__ = ["CdcJob", "CdcJobSpec"]


class CdcJobSpec(JobSpec):
    """Run a CDC job until it has caught up with its source."""

    type: Literal["cdc"]
    spec: str
    """The `*.cdc.yaml`, relative to the workflow file."""
    until_caught_up: bool = True
    """Stop once every change the source had committed when the step started is applied."""
    max_seconds: float | None = Field(default=None, gt=0)
    """Stop after this long even if not caught up (with `until_caught_up: false`, how long to stream)."""


def _spec_path(spec: CdcJobSpec, workflow_dir: Path) -> Path:
    path = Path(spec.spec)
    return path if path.is_absolute() else workflow_dir / path


class CdcJob(JobType[CdcJobSpec]):
    name = "cdc"
    SPEC = CdcJobSpec

    @classmethod
    def check(cls, spec: CdcJobSpec, preflight: Preflight) -> None:
        from towpath.cdc import load_cdc_spec

        path = _spec_path(spec, preflight.spec.path.parent if preflight.spec.path else Path.cwd())
        if not path.is_file():
            preflight.at(f"no CDC spec at {path}", "spec")
            return
        try:
            load_cdc_spec(path)
        except TowpathError as exc:
            preflight.error(exc, "spec")
        if not spec.until_caught_up and spec.max_seconds is None:
            preflight.at("with until_caught_up: false the job needs max_seconds (it would never end)", "max_seconds")

    @classmethod
    def lineage(cls, spec: CdcJobSpec, preflight: Preflight) -> None:
        """The source table -> each target: Iceberg table, KV namespace, search index (`towpath.lineage.cdc_lineage`)."""
        from towpath.cdc import load_cdc_spec
        from towpath.config import load_yaml
        from towpath.lineage import cdc_lineage

        path = _spec_path(spec, preflight.spec.path.parent if preflight.spec.path else Path.cwd())
        try:
            cdc = load_cdc_spec(path)
        except (TowpathError, OSError):
            return  # `check` reported it
        cdc_lineage(preflight.lineage, preflight.job, cdc, load_yaml(path), preflight.tables,
                    project=preflight.project.config.name)

    @classmethod
    def writes(cls, spec: CdcJobSpec, workflow_dir: Path, params: Mapping[str, str]) -> list[Write]:
        from towpath.cdc import load_cdc_spec

        path = _spec_path(spec, workflow_dir)
        if not path.is_file():
            return []
        return [Write(table, "spec") for t in load_cdc_spec(path).targets for table in t.lake_tables()]

    @classmethod
    def run(cls, spec: CdcJobSpec, ctx: RunContext) -> JobResult:
        from towpath.cdc import load_cdc_spec, run_cdc

        started = time.perf_counter()
        path = _spec_path(spec, ctx.workflow_dir)
        try:
            result = run_cdc(load_cdc_spec(path), catalog=ctx.catalog, root=find_project_root(path.parent),
                             until_caught_up=spec.until_caught_up, max_seconds=spec.max_seconds)
        except TowpathError as exc:
            raise WorkflowError(f"cdc step {spec.id}: {first_line(exc)}") from exc
        status = Status.SUCCESS if result.caught_up or not spec.until_caught_up else Status.FAILED
        return JobResult(spec.id, cls.name, status, time.perf_counter() - started, rows_written=result.changes,
                         error=None if status is Status.SUCCESS else
                         f"stopped after {spec.max_seconds}s before catching up (at {result.applied_position})",
                         details={"snapshot_rows": result.snapshot_rows, "changes": result.changes,
                                  "position": result.applied_position, "rows_per_second": result.rows_per_second})
