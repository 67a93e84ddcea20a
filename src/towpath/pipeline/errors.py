"""Errors of the pipeline room; all derive from `towpath.errors.PipelineError`."""

from __future__ import annotations

from towpath.errors import PipelineError


class ProcessorFailedError(PipelineError):
    """A processor raised while the pipeline ran; nothing was published.

    The original exception is chained as `__cause__` and kept as `.error`, so
    `except ConnectorError` callers can still inspect what went wrong.
    """

    def __init__(self, processor: str, batch_index: int | None, error: BaseException, *, phase: str = "process") -> None:
        where = {
            "process": f"on batch {batch_index}",
            "read": f"reading batch {batch_index}",
            "open": "while opening",
            "finish": f"in finish() after {batch_index} batches",
            "close": "while closing (publishing)",
        }[phase]
        super().__init__(f"processor '{processor}' failed {where}: {type(error).__name__}: {error}")
        self.processor, self.batch_index, self.error, self.phase = processor, batch_index, error, phase


class PipelineDefinitionError(PipelineError):
    """A pipeline is wired wrongly (no source, a source mid-stream, duplicate names, ...)."""


class FactoryError(PipelineError):
    """`towpath pipeline run module:factory` could not import or call the factory."""
