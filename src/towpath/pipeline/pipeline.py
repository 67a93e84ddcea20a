"""`Pipeline`: stages of processors, each processor in its own thread(s), bounded queues between.

Wiring rules:

* The first stage holds only sources; no later stage holds one.
* Every batch leaving stage *k* goes to every processor of stage *k+1* (fan-out).
* The outputs of all processors of a stage merge into the next stage in arrival
  order (no ordering across siblings, so siblings may emit different schemas);
  the next stage ends after every sibling ended.
* Outputs of the last stage are counted and dropped: put sinks there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Union

from towpath.pipeline._runtime import Channel, RunState, StepRunner
from towpath.pipeline.errors import PipelineDefinitionError, ProcessorFailedError
from towpath.pipeline.processor import Processor, Source
from towpath.pipeline.routing import ErrorRouter, ErrorTarget
from towpath.pipeline.stats import PipelineStats
from towpath.pipeline.step import Step

StageLike = Union["Stage", Processor, Step, Sequence[Processor | Step]]
"""What `Pipeline` accepts per stage: a Stage, one processor/step, or a list of them (fan-out)."""


class Stage:
    """Processors that all receive every batch of the previous stage."""

    def __init__(self, *members: Processor | Step, name: str | None = None) -> None:
        if not members:
            raise PipelineDefinitionError("a stage needs at least one processor")
        self.steps = [m if isinstance(m, Step) else Step(m) for m in members]
        self.name = name

    @classmethod
    def of(cls, value: StageLike) -> Stage:
        if isinstance(value, Stage):
            return value
        if isinstance(value, (Processor, Step)):
            return cls(value)
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            return cls(*value)
        raise PipelineDefinitionError(
            f"a stage must be a Stage, a Processor, a Step or a list of them, got {type(value).__name__}"
        )


class Pipeline:
    """Stages of processors run concurrently; `run()` returns the stats.

    Args:
        stages: in order; the first holds the source(s).
        queue_size: batches each processor's input queue holds; bounds memory.
        errors: default error sink for rows routed with `ctx.errors.put(...)`.
        settings: shared values handed to every processor's context.
    """

    def __init__(self, stages: Sequence[StageLike], *, name: str = "pipeline", queue_size: int = 8,
                 errors: ErrorTarget = None, settings: dict[str, Any] | None = None) -> None:
        if queue_size < 1:
            raise PipelineDefinitionError(f"queue_size must be at least 1, got {queue_size}")
        self.name, self.queue_size = name, queue_size
        self.stages = [Stage.of(s) for s in stages]
        self.settings = dict(settings or {})
        self.errors = ErrorRouter(errors, name=f"{name}.errors")
        self._validate()
        self._runners: list[list[StepRunner]] = []
        self._routers: list[ErrorRouter] = []
        self._started: float | None = None
        self._finished: float | None = None
        self._status = "pending"
        self._lock = threading.Lock()

    # -- wiring --------------------------------------------------------------------------
    def _validate(self) -> None:
        if not self.stages:
            raise PipelineDefinitionError(f"pipeline '{self.name}' has no stages")
        for index, stage in enumerate(self.stages):
            for st in stage.steps:
                proc = st.processor
                if not isinstance(proc, Processor):
                    raise PipelineDefinitionError(f"stage {index}: {proc!r} is not a towpath Processor")
                is_source = isinstance(proc, Source)
                if index == 0 and not is_source:
                    raise PipelineDefinitionError(f"stage 0 must hold only sources; {proc!r} is a {proc.kind}")
                if index > 0 and is_source:
                    raise PipelineDefinitionError(f"stage {index}: source {proc!r} can only be in the first stage")
                if st.concurrency < 1:
                    raise PipelineDefinitionError(f"{proc!r}: concurrency must be at least 1")
                if st.concurrency > 1 and (is_source or getattr(proc, "STATEFUL", False)):
                    raise PipelineDefinitionError(
                        f"{proc!r} keeps state across the whole stream and cannot run with concurrency > 1"
                    )
                if is_source and st.retry is not None:
                    raise PipelineDefinitionError(f"{proc!r}: retries apply to processors and sinks, not sources")

    def _names(self) -> list[list[str]]:
        seen: dict[str, int] = {}
        names: list[list[str]] = []
        for stage in self.stages:
            row = []
            for st in stage.steps:
                base = st.name or st.processor.name or _default_name(st.processor)
                seen[base] = seen.get(base, 0) + 1
                row.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
            names.append(row)
        return names

    def _build(self) -> list[StepRunner]:
        self._routers = [self.errors]
        by_target: dict[int, ErrorRouter] = {}
        self._runners = []
        run = RunState(sum(st.concurrency for stage in self.stages for st in stage.steps), self.settings)
        self._run = run
        for stage, names in zip(self.stages, self._names()):
            row = []
            for st, name in zip(stage.steps, names):
                target = getattr(st.processor, "error_sink", None)
                router = self.errors
                if target is not None:
                    if id(target) not in by_target:
                        by_target[id(target)] = ErrorRouter(target, name=f"{name}.errors")
                        self._routers.append(by_target[id(target)])
                    router = by_target[id(target)]
                row.append(StepRunner(st, name, run, router))
            self._runners.append(row)
        for upstream, downstream in zip(self._runners, self._runners[1:]):
            for runner in downstream:
                runner.inlet = Channel(self.queue_size, len(upstream), run.stop)
            for runner in upstream:
                runner.outlets = [d.inlet for d in downstream if d.inlet is not None]
        flat = [r for row in self._runners for r in row]
        by_name = {r.name: r for r in flat}
        for router in self._routers:
            router.on_count(lambda processor, n: by_name[processor].count_errors(n) if processor in by_name else None)
        return flat

    # -- running -------------------------------------------------------------------------
    def run(self, *, progress: Callable[[PipelineStats], None] | None = None,
            progress_interval: float = 0.5) -> PipelineStats:
        """Run to completion; return the stats.

        Raises:
            ProcessorFailedError: a processor failed; nothing was published, every
                thread was joined, the original exception is the `__cause__`.
            KeyboardInterrupt: after a clean stop, when interrupted (Ctrl-C).
        """
        if self._status == "running":
            raise PipelineDefinitionError(f"pipeline '{self.name}' is already running")
        runners = self._build()
        self._started, self._finished, self._status = time.perf_counter(), None, "running"
        run = self._run
        threads = [t for r in runners for t in r.threads()]
        opened: list[ErrorRouter] = []
        try:
            for router in self._routers:
                router.open()
                opened.append(router)
        except BaseException as exc:
            run.fail(ProcessorFailedError(opened[-1].name if opened else "errors", None, exc, phase="open"), exc)
            for router in opened:
                router.close(exc)
            raise run.error from exc  # type: ignore[misc]
        for thread in threads:
            thread.start()
        last = time.perf_counter()
        interrupted: BaseException | None = None
        while True:
            try:
                if run.all_finished(0.05):
                    break
                if progress is not None and time.perf_counter() - last >= progress_interval:
                    last = time.perf_counter()
                    progress(self.stats())
            except KeyboardInterrupt as exc:  # Ctrl-C: stop every worker, then close with the error
                interrupted = exc
                run.interrupt(exc)
        verdict = run.give_verdict()
        for thread in threads:
            while thread.is_alive():
                try:
                    thread.join(0.1)
                except KeyboardInterrupt as exc:
                    interrupted = exc
        for router in self._routers:
            router.close(verdict)
        self._finished = time.perf_counter()
        self._status = "done" if verdict is None and not run.close_errors else "failed"
        if progress is not None:
            progress(self.stats())
        if interrupted is not None or isinstance(run.cause, KeyboardInterrupt):
            raise (interrupted or run.cause)  # type: ignore[misc]
        if run.error is not None:
            raise run.error from run.cause
        if run.close_errors:
            raise run.close_errors[0]
        return self.stats()

    def stats(self) -> PipelineStats:
        """A consistent snapshot; safe to call from another thread while running."""
        snaps = [r.snapshot() for row in self._runners for r in row]
        wall = 0.0
        if self._started is not None:
            wall = (self._finished or time.perf_counter()) - self._started
        sources = [r for r in self._runners[0]] if self._runners else []
        total, read = 0, 0
        known = bool(sources)
        for runner in sources:
            proc = runner.instances[0]
            assert isinstance(proc, Source)
            size, pos = proc.size(), proc.position()
            if size is None or pos is None:
                known = False
            else:
                total, read = total + size, read + pos
        return PipelineStats(
            name=self.name,
            processors=snaps,
            wall_seconds=wall,
            rows_read=sum(s.rows_out for s in snaps if s.kind == "source"),
            rows_written=sum(s.rows_in for s in snaps if s.kind == "sink"),
            rows_error=sum(r.rows for r in self._routers),
            source_bytes_total=total if known else None,
            source_bytes_read=read if known else None,
            status=self._status,
        )

    def peak_queue_occupancy(self) -> dict[str, int]:
        """Most batches that ever waited in each processor's input queue (for tuning queue_size)."""
        return {r.name: r.inlet.peak for row in self._runners for r in row if r.inlet is not None}


def _default_name(processor: Processor) -> str:
    return type(processor).__name__.lower()
