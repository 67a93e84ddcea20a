"""`stream` jobs: run a `*.stream.yaml` job inside a workflow, in batch mode (until caught up) by default.

```yaml
- job:
    id: load_orders
    type: stream
    spec: orders.stream.yaml   # relative to the workflow file
    until_caught_up: true      # stop once every partition is read to its end (default)
    timeout: 3600              # seconds; stop cleanly after this long
```

The stream commits each window with its offsets, so a daily workflow that
runs this step and then a SQL step over the table reads exactly what was
committed, and the next day's run starts where this one stopped.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from towpath.catalog import normalize_identifier
from towpath.errors import SpecError, TowpathError, WorkflowError, first_line
from towpath.status import Status
from towpath.workflows.jobs import JobType, Write
from towpath.workflows.results import JobResult
from towpath.workflows.spec.base import JobSpec

if TYPE_CHECKING:
    from towpath.workflows.context import RunContext
    from towpath.workflows.preflight import Preflight

__all__ = ["StreamJobSpec", "StreamJobType"]


class StreamJobSpec(JobSpec):
    """Run a stream job file."""

    type: Literal["stream"]
    spec: str
    """The `*.stream.yaml` file, relative to the workflow file."""
    until_caught_up: bool = True
    """Stop once every owned partition has been read to its end (the batch mode of a daily job)."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds after which the stream stops cleanly (default: the stream file's `timeout`)."""
    worker: str = "1/1"
    """`I/N`: own the I-th of N shares of the partitions (run N steps or processes to scale out)."""


class StreamJobType(JobType[StreamJobSpec]):
    """Runs `towpath.streaming.StreamJob` once."""

    name = "stream"
    SPEC = StreamJobSpec

    @classmethod
    def check(cls, spec: StreamJobSpec, preflight: Preflight) -> None:
        from towpath.streaming import Worker, load_stream_spec

        path = preflight.spec.relative(spec.spec)
        if not path.exists():
            preflight.at(f"stream file {path} does not exist", "spec")
            return
        try:
            stream = load_stream_spec(path)
            Worker.parse(spec.worker)
        except SpecError as exc:
            preflight.error(exc, "spec")
            return
        except TowpathError as exc:
            preflight.at(str(exc), "worker")
            return
        if isinstance(stream.schema_, list) and stream.sink.table is not None:  # later steps may read the table
            columns = {c.name.lower(): c.type for c in stream.schema_}
            if stream.key_column:
                columns[stream.key_column.lower()] = "string"
            if stream.event_time == "kafka_timestamp":
                columns["kafka_timestamp"] = "timestamp"
            preflight.tables.create(normalize_identifier(stream.sink.table), columns)

    @classmethod
    def lineage(cls, spec: StreamJobSpec, preflight: Preflight) -> None:
        """Kafka topic(s) -> the sink table and its dead-letter table (`towpath.lineage.stream_lineage`)."""
        from towpath.config import load_yaml
        from towpath.lineage import stream_lineage
        from towpath.streaming import load_stream_spec

        path = preflight.spec.relative(spec.spec)
        try:
            stream = load_stream_spec(path)
        except (TowpathError, OSError):
            return  # `check` reported it
        stream_lineage(preflight.lineage, preflight.job, stream, load_yaml(path), preflight.tables)

    @classmethod
    def run(cls, spec: StreamJobSpec, ctx: RunContext) -> JobResult:
        from towpath.streaming import RunOptions, StreamJob, Worker, load_stream_spec

        started = time.perf_counter()
        path = ctx.workflow_dir / spec.spec
        stream = load_stream_spec(path)
        notifier = None
        if any(rule.notify == "project" for rule in stream.alerts):
            from towpath.config import find_project_root
            from towpath.notify import Notifier

            notifier = Notifier.for_project(find_project_root(ctx.workflow_dir), ctx.config)
        job = StreamJob(stream, path.parent, ctx.catalog, ctx.state, notifier=notifier)
        options = RunOptions(timeout_s=spec.timeout, until_caught_up=spec.until_caught_up,
                             worker=Worker.parse(spec.worker), handle_signals=False)
        try:
            stats = job.run(options)
        except TowpathError as exc:
            raise WorkflowError(f"stream job '{spec.id}' failed: {first_line(exc)}") from exc
        return JobResult(
            job_id=spec.id, job_type="stream", status=Status.SUCCESS, duration_s=time.perf_counter() - started,
            rows_written=stats.rows,
            details={"messages": stats.messages, "windows": stats.windows, "dead_letters": stats.dead_letters,
                     "alerts": stats.alerts_fired, "stopped": stats.stopped, "offsets": stats.positions},
        )

    @classmethod
    def writes(cls, spec: StreamJobSpec, workflow_dir: Path, params: Mapping[str, str]) -> list[Write]:
        from towpath.streaming import load_stream_spec

        try:
            stream = load_stream_spec(workflow_dir / spec.spec)
        except (SpecError, OSError):
            return []
        if stream.sink.table is None:  # a files sink writes no catalog table
            return []
        return [Write(stream.sink.table, "spec"), Write(stream.sink.dead_letter_table, "spec")]

    @classmethod
    def plan(cls, spec: StreamJobSpec, workflow_dir: Path, params: Mapping[str, str]) -> str | None:
        return f"stream {spec.spec} ({'until caught up' if spec.until_caught_up else 'until stopped'})"
