"""Grab Ratchet's `Job`: source -> transformer(s) -> optional destination, then `execute()`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from towpath.pipeline.errors import PipelineDefinitionError
from towpath.pipeline.pipeline import Pipeline, StageLike
from towpath.pipeline.processor import Processor, Sink, Source
from towpath.pipeline.stats import PipelineStats
from towpath.pipeline.step import Step


class Job:
    """Builds a `Pipeline` from Ratchet's three calls.

    `set_transformer(a, b)` chains a then b (one stage each); pass a list for a
    fan-out stage. An empty destination means no load step: the transformers'
    output is counted and dropped (side effects, e.g. an HTTP call per batch,
    are the point).

    >>> from towpath.pipeline.transforms import Select
    >>> job = Job("copy").set_transformer(Select(["id"]))
    """

    def __init__(self, name: str = "job", *, queue_size: int = 8, errors: Any = None) -> None:
        self.name, self.queue_size, self.errors = name, queue_size, errors
        self._sources: list[Source | Step] = []
        self._transformers: list[StageLike] = []
        self._destinations: list[Sink | Step] = []
        self._pipeline: Pipeline | None = None

    def set_source(self, *sources: Source | Step) -> Job:
        """One source, or several read side by side."""
        self._sources = list(sources)
        return self

    def set_transformer(self, *processors: Processor | Step | Sequence[Processor | Step]) -> Job:
        """Processors applied in order; a list is a fan-out stage."""
        self._transformers = list(processors)
        return self

    def set_destination(self, *sinks: Sink | Step) -> Job:
        """Zero (no load step), one, or several sinks (each gets every batch)."""
        self._destinations = list(sinks)
        return self

    def pipeline(self) -> Pipeline:
        """The `Pipeline` this job runs."""
        if not self._sources:
            raise PipelineDefinitionError(f"job '{self.name}' has no source: call set_source(...) first")
        stages: list[StageLike] = [self._sources, *self._transformers]
        if self._destinations:
            stages.append(self._destinations)
        self._pipeline = Pipeline(stages, name=self.name, queue_size=self.queue_size, errors=self.errors)
        return self._pipeline

    def execute(self, *, progress: Callable[[PipelineStats], None] | None = None) -> PipelineStats:
        """Run the job; return its stats (raises like `Pipeline.run`)."""
        return self.pipeline().run(progress=progress)

    def stats(self) -> PipelineStats | None:
        """Stats of the last (or current) execution."""
        return self._pipeline.stats() if self._pipeline is not None else None
