"""How one processor runs inside a stage: worker count, ordering and retries."""

from __future__ import annotations

from dataclasses import dataclass, field

from towpath.errors import TransientError
from towpath.pipeline.processor import Processor


@dataclass(frozen=True)
class Retry:
    """Retry a batch with exponential backoff when it raises one of `on`.

    The whole `process(batch)` call is retried, and its outputs are only emitted
    once it returned, so a half-processed batch never leaks downstream.

    >>> Retry(attempts=3, backoff=0.1).delay(2)
    0.2
    """

    attempts: int = 3
    """Total tries, including the first."""
    backoff: float = 0.1
    """Seconds to wait before the second try; doubles each further try."""
    max_backoff: float = 5.0
    """Upper bound of one wait."""
    on: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError)
    """Exception types worth retrying; anything else fails the pipeline at once."""

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number `attempt` (1-based)."""
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


@dataclass
class Step:
    """A processor plus how to run it.

    With `concurrency=N` the pipeline runs N worker threads, each with its own
    shallow copy of the processor (made before `open`), so per-worker resources
    such as a DuckDB connection are never shared. Processors whose state spans
    the stream (`Dedupe`, `Batcher`, sinks) set `STATEFUL = True` and refuse
    N > 1. Output order equals input order unless `ordered=False`.
    """

    processor: Processor
    concurrency: int = 1
    ordered: bool = True
    retry: Retry | None = None
    name: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


def step(processor: Processor, *, concurrency: int = 1, ordered: bool = True, retry: Retry | None = None,
         name: str | None = None) -> Step:
    """Shorthand for `Step(...)`: `step(Sql(...), concurrency=4)`."""
    return Step(processor, concurrency=concurrency, ordered=ordered, retry=retry, name=name)
