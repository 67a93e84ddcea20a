"""The threads behind `Pipeline.run`: bounded channels, workers, ordering, stop and close.

Every step gets one bounded input channel; each producer of the previous stage
puts every batch into the channel of every step of the next stage (fan-out) and
one END marker when it is done, so a step ends after it counted one END per
producer. Blocking puts are what make a slow stage hold back the fast ones.

Shutdown is two-phase: a worker first finishes (or stops) its work, then waits
for the pipeline's verdict, then calls `close(verdict)` in its own thread, so a
sink publishes only when every processor of the pipeline succeeded, and
thread-bound resources (SQLite, DuckDB cursors) are closed where they were made.
"""

from __future__ import annotations

import copy
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pyarrow as pa

from towpath.pipeline.errors import ProcessorFailedError
from towpath.pipeline.processor import ProcessorContext, Source
from towpath.pipeline.routing import ErrorRouter
from towpath.pipeline.stats import ProcessorStats
from towpath.pipeline.step import Step

_END = object()
_POLL = 0.1


class Stopped(Exception):
    """Raised inside a worker when the pipeline was told to stop."""


class Channel:
    """A bounded queue into one step, counting END markers and peak occupancy."""

    def __init__(self, size: int, producers: int, stop: threading.Event) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._producers = producers
        self._ends = 0
        self._stop = stop
        self._lock = threading.Lock()
        self._seq = 0
        self.exhausted = False
        self.peak = 0

    def put(self, item: Any) -> None:
        while True:
            try:
                self._q.put(item, timeout=_POLL)
                break
            except queue.Full:
                if self._stop.is_set():
                    raise Stopped from None
        size = self._q.qsize()
        self.peak = max(self.peak, size)

    def next(self) -> tuple[int, pa.RecordBatch] | None:
        """The next (sequence number, batch), or None once every producer ended."""
        with self._lock:
            while not self.exhausted:
                if self._stop.is_set():
                    raise Stopped
                try:
                    item = self._q.get(timeout=_POLL)
                except queue.Empty:
                    continue
                if item is _END:
                    self._ends += 1
                    if self._ends >= self._producers:
                        self.exhausted = True
                    continue
                seq = self._seq
                self._seq += 1
                return seq, item
            return None

    @property
    def total(self) -> int:
        """Batches handed out so far (all of them once exhausted)."""
        return self._seq


class StepRunner:
    """Runs one step with its workers; feeds the channels of the next stage."""

    def __init__(self, step: Step, name: str, run: RunState, router: ErrorRouter) -> None:
        self.step, self.name, self.run, self.router = step, name, run, router
        proc = step.processor
        self.is_source = isinstance(proc, Source)
        self.instances = [proc] + [copy.copy(proc) for _ in range(step.concurrency - 1)]
        for instance in self.instances:
            instance.name = name
        self.stats = ProcessorStats(name=name, kind=proc.kind, workers=step.concurrency)
        self.inlet: Channel | None = None
        self.outlets: list[Channel] = []
        self._lock = threading.Lock()
        self._turn = threading.Condition()
        self._next_emit = 0
        self._workers_done = 0
        self._started = 0.0

    # -- threads -------------------------------------------------------------------------
    def threads(self) -> list[threading.Thread]:
        return [
            threading.Thread(target=self._worker, args=(i,), name=f"towpath:{self.name}#{i}", daemon=True)
            for i in range(len(self.instances))
        ]

    def _worker(self, index: int) -> None:
        proc = self.instances[index]
        phase, batch_index = "open", None
        opened = False
        with self._lock:
            if self.stats.status == "pending":
                self.stats.status = "running"
                self._started = time.perf_counter()
        try:
            proc.open(ProcessorContext(self.name, errors=self.router, settings=self.run.settings))
            opened = True
            if self.is_source:
                phase = "read"
                assert isinstance(proc, Source)
                batch_index = 0
                iterator = iter(proc.read())
                while True:
                    if self.run.stop.is_set():
                        raise Stopped
                    t0 = time.perf_counter()
                    batch = next(iterator, None)
                    self._add_busy(time.perf_counter() - t0)
                    if batch is None:
                        break
                    self._emit([batch])
                    batch_index += 1
            else:
                assert self.inlet is not None
                phase = "process"
                while (item := self.inlet.next()) is not None:
                    batch_index, batch = item
                    with self._lock:
                        self.stats.batches_in += 1
                        self.stats.rows_in += batch.num_rows
                        self.stats.bytes_in += batch.nbytes
                    outputs = self._call(functools.partial(proc.process, batch))
                    self._emit_ordered(batch_index, outputs)
                phase, batch_index = "finish", self.inlet.total
                outputs = self._call(proc.finish)
                if self.step.ordered and len(self.instances) > 1:
                    self._wait_turn(self.inlet.total)
                self._emit(outputs)
            self._worker_finished()
        except Stopped:
            self._set_status("stopped")
        except BaseException as exc:  # noqa: BLE001 - every failure must stop the pipeline cleanly
            self._set_status("failed")
            self.run.fail(ProcessorFailedError(self.name, batch_index, exc, phase=phase), exc)
        finally:
            with self._lock:
                self.stats.wall_seconds = time.perf_counter() - self._started
            verdict = self.run.await_verdict()
            if opened or phase == "open":
                try:
                    proc.close(verdict)
                except BaseException as exc:  # noqa: BLE001
                    self.run.close_failed(ProcessorFailedError(self.name, None, exc, phase="close"), exc)

    # -- helpers -------------------------------------------------------------------------
    def _call(self, fn: Callable[[], Iterable[pa.RecordBatch] | None]) -> list[pa.RecordBatch]:
        """Run `fn` (with retries) and materialise its outputs, so a retried batch never half-emits."""
        retry = self.step.retry
        attempt = 1
        while True:
            t0 = time.perf_counter()
            try:
                result = fn()
                outputs = list(result) if result is not None else []
                self._add_busy(time.perf_counter() - t0)
                return outputs
            except BaseException as exc:
                self._add_busy(time.perf_counter() - t0)
                if retry is None or attempt >= retry.attempts or not isinstance(exc, retry.on):
                    raise
                with self._lock:
                    self.stats.retries += 1
                if self.run.stop.wait(retry.delay(attempt)):
                    raise Stopped from exc
                attempt += 1

    def _emit_ordered(self, seq: int, outputs: list[pa.RecordBatch]) -> None:
        if not self.step.ordered or len(self.instances) == 1:
            self._emit(outputs)
            return
        self._wait_turn(seq)
        try:
            self._emit(outputs)
        finally:
            with self._turn:
                self._next_emit = seq + 1
                self._turn.notify_all()

    def _wait_turn(self, seq: int) -> None:
        with self._turn:
            while self._next_emit < seq:
                if self.run.stop.is_set():
                    raise Stopped
                self._turn.wait(_POLL)

    def _emit(self, outputs: list[pa.RecordBatch]) -> None:
        for batch in outputs:
            if isinstance(batch, pa.Table):
                for part in batch.to_batches():
                    self._emit([part])
                continue
            with self._lock:
                self.stats.batches_out += 1
                self.stats.rows_out += batch.num_rows
                self.stats.bytes_out += batch.nbytes
            for channel in self.outlets:
                channel.put(batch)

    def _worker_finished(self) -> None:
        with self._lock:
            self._workers_done += 1
            last = self._workers_done == len(self.instances)
            if last:
                self.stats.status = "done"
        if last:
            for channel in self.outlets:
                channel.put(_END)

    def _add_busy(self, seconds: float) -> None:
        with self._lock:
            self.stats.busy_seconds += seconds

    def _set_status(self, status: str) -> None:
        with self._lock:
            if self.stats.status not in ("failed",):
                self.stats.status = status

    def snapshot(self) -> ProcessorStats:
        with self._lock:
            stats = copy.copy(self.stats)
            if stats.status == "running":
                stats.wall_seconds = time.perf_counter() - self._started
            return stats

    def count_errors(self, n: int) -> None:
        with self._lock:
            self.stats.rows_error += n


class RunState:
    """Shared by all workers of one run: the stop flag, the first error, the verdict."""

    def __init__(self, workers: int, settings: dict[str, Any]) -> None:
        self.stop = threading.Event()
        self.settings = settings
        self.error: ProcessorFailedError | None = None
        self.cause: BaseException | None = None
        self.close_errors: list[ProcessorFailedError] = []
        self._workers = workers
        self._finished = 0
        self._cond = threading.Condition()
        self._verdict_ready = threading.Event()
        self.verdict: BaseException | None = None

    def fail(self, error: ProcessorFailedError, cause: BaseException) -> None:
        with self._cond:
            if self.error is None:
                self.error, self.cause = error, cause
        self.stop.set()

    def interrupt(self, exc: BaseException) -> None:
        with self._cond:
            if self.error is None:
                self.cause = exc
        self.stop.set()

    def close_failed(self, error: ProcessorFailedError, cause: BaseException) -> None:
        with self._cond:
            self.close_errors.append(error)
            error.__cause__ = cause

    def await_verdict(self) -> BaseException | None:
        with self._cond:
            self._finished += 1
            self._cond.notify_all()
        self._verdict_ready.wait()
        return self.verdict

    def all_finished(self, timeout: float) -> bool:
        with self._cond:
            if self._finished < self._workers:
                self._cond.wait(timeout)
            return self._finished >= self._workers

    def give_verdict(self) -> BaseException | None:
        self.verdict = self.cause
        self._verdict_ready.set()
        return self.verdict
