"""Run a CDC job: snapshot when needed, then stream batches into every target, acknowledging after each.

The loop, per batch: decode changes until `batch.max_rows` or `batch.max_seconds`,
apply the batch to each target (each skips what it already has and commits
once), and only then acknowledge the batch's last whole transaction to the
source. A kill -9 anywhere leaves each target at its own last commit and the
source holding everything after the slowest one, so the next run converges.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from towpath.catalog import Catalog
from towpath.cdc.changes import ChangeBatch, ChangeBuffer, Position
from towpath.cdc.errors import SchemaChangeError, SlotLostError
from towpath.cdc.source import CdcSource, Poll, open_source
from towpath.cdc.spec import CdcSpec
from towpath.cdc.status import JobReport, read_report, write_report
from towpath.cdc.target import CdcTarget, TargetContext

__all__ = ["CdcResult", "CdcStatus", "TargetStatus", "cdc_status", "open_targets", "run_cdc"]


@dataclass(frozen=True)
class CdcResult:
    name: str
    snapshot_rows: int
    changes: int
    """Row changes applied (after keeping the last change per key in each batch)."""
    received: int
    """Row changes decoded from the source."""
    batches: int
    seconds: float
    rows_per_second: float
    applied_position: str
    lag_seconds_p99: float | None
    caught_up: bool
    snapshotted: bool


def open_targets(spec: CdcSpec, catalog: Catalog, root: Path) -> list[CdcTarget]:
    """Every target of `spec`, each opened by its kind (`CDC_TARGETS`)."""
    context = TargetContext(catalog, root, spec.name)
    return [t.open(context) for t in spec.targets]


def run_cdc(
    spec: CdcSpec,
    *,
    catalog: Catalog,
    root: Path,
    until_caught_up: bool = False,
    resnapshot: bool = False,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[JobReport], None] | None = None,
) -> CdcResult:
    """Run `spec` until caught up (`until_caught_up`), `max_seconds` pass, or `stop` is set.

    Raises:
        SlotLostError: the source no longer has the changes after the targets' position.
        SchemaChangeError: a source column was dropped or retyped (the targets stay at the last batch).
        SourceError: the source refused or went away (run again to resume).
    """
    started = time.monotonic()
    source = open_source(spec)
    targets = open_targets(spec, catalog, root)
    report = JobReport(spec.name)
    try:
        snapshotted = _handoff(spec, source, targets, report, resnapshot, root)
        result = _stream(spec, source, targets, report, root, started, until_caught_up, max_seconds, stop, progress)
        report.state = "stopped"
        write_report(root, report)
        return CdcResult(spec.name, report.snapshot_rows, report.changes, result[0], report.batches,
                         time.monotonic() - started, report.rows_per_second, report.applied_position,
                         report.lag_seconds_p99, result[1], snapshotted)
    except BaseException as exc:
        report.state, report.error = "failed", str(exc)
        write_report(root, report)
        raise
    finally:
        for target in targets:
            target.close()
        source.close()


def _handoff(spec: CdcSpec, source: CdcSource, targets: list[CdcTarget], report: JobReport, resnapshot: bool,
             root: Path) -> bool:
    """Snapshot every target when the job is new, asked to, or a target was added; else check the stream."""
    positions = [t.position() for t in targets]
    known = [p for p in positions if p is not None]
    exists = source.stream_exists(min(known) if known else None)
    if exists and not resnapshot and all(p is not None for p in positions):
        return False
    if not exists and not resnapshot and known:
        source.start(min(known))  # raises SlotLostError naming the position
        raise AssertionError("unreachable: a missing stream cannot start")
    source.drop_stream()
    snap = source.snapshot()
    loads = [t.begin_snapshot(source.schema, source.primary_key) for t in targets]
    for batch in snap.batches:
        for load in loads:
            load.add(batch)
        report.snapshot_rows += batch.num_rows
    for load in loads:
        load.commit(snap.position, snap.source_position)
    report.applied_position = snap.source_position
    write_report(root, report)
    return True


def _stream(spec: CdcSpec, source: CdcSource, targets: list[CdcTarget], report: JobReport, root: Path,
            started: float, until_caught_up: bool, max_seconds: float | None, stop: threading.Event | None,
            progress: Callable[[JobReport], None] | None) -> tuple[int, bool]:
    """Decode on this thread while the previous batch is applied on another; acknowledge what was applied.

    The batch size adapts to the targets: while one batch is applied the stream
    keeps decoding, and the next batch is whatever accumulated by the time the
    applier is free (at most `batch.max_rows`). So a slow apply gets larger
    batches (each commit's fixed cost is shared by more changes) and an idle
    target gets each change almost at once. The source is only touched here:
    positions come back from the applier and are acknowledged on this thread.
    """
    positions = [t.position() for t in targets]
    known = [p for p in positions if p is not None]
    source.start(min(known) if known else None)
    for target in targets:
        gone = [c for c in target.columns() or [] if c not in source.schema.names]
        if gone:
            raise SchemaChangeError(source.table, f"column {gone[0]} was dropped (the target {target.name} has it)",
                                    position=source.format(min(known) if known else None))
        target.evolve(source.schema)
    applier = _Applier(targets, source.primary_key)
    lags: list[float] = []
    received, streaming_started = 0, time.monotonic()
    caught_up = False
    try:
        while True:
            buffer = ChangeBuffer(source.schema)
            why = _fill(source, buffer, spec, applier)
            received += len(buffer)
            if len(buffer) or buffer.last_complete is not None:
                applier.submit(buffer.to_batch(source.format(Position(buffer.commits[-1]))) if len(buffer) else None,
                               buffer.last_complete)
            if why is Poll.SCHEMA:
                applier.wait_idle(lambda done: _applied(done, source, report, lags))
                for target in targets:
                    target.evolve(source.schema)
            _applied(applier.finished(), source, report, lags)
            elapsed = time.monotonic() - streaming_started
            report.rows_per_second = report.changes / elapsed if elapsed > 0 else 0.0
            write_report(root, report)
            if progress is not None:
                progress(report)
            finishing = (stop is not None and stop.is_set()) or (
                max_seconds is not None and time.monotonic() - started >= max_seconds)
            if finishing or (until_caught_up and why is Poll.TIMEOUT and applier.idle and not len(buffer)):
                applier.wait_idle(lambda done: _applied(done, source, report, lags))
                write_report(root, report)
                if finishing:
                    break
                if source.caught_up():
                    caught_up = True
                    break
    finally:
        applier.close()
    return received, caught_up


def _fill(source: CdcSource, buffer: ChangeBuffer, spec: CdcSpec, applier: _Applier) -> Poll:
    """Decode into `buffer` until it is full, `batch.max_seconds` pass, or the applier is free to take it."""
    deadline = time.monotonic() + spec.batch.max_seconds
    while True:
        remaining = deadline - time.monotonic()
        why = source.poll(buffer, spec.batch.max_rows, min(_SLICE_SECONDS, max(remaining, 0.0)))
        applier.raise_failure()
        if why is not Poll.TIMEOUT or remaining <= _SLICE_SECONDS:
            return why
        if len(buffer) and applier.idle:
            return Poll.TIMEOUT  # apply what accumulated while the last batch was applied


_SLICE_SECONDS = 0.2
"""How often the decoder looks whether the applier is free."""


def _applied(done: list[_Done], source: CdcSource, report: JobReport, lags: list[float]) -> None:
    """Account for batches every target applied, and let the source forget them."""
    for item in done:
        if item.batch is not None:
            report.changes += item.applied
            report.batches += 1
            if item.batch.commit_time is not None:
                lags.append(max(0.0, item.finished_at - item.batch.commit_time))
                report.lag_seconds = lags[-1]
                report.lag_seconds_p99 = _p99(lags)
            report.applied_position = item.batch.source_position
        if item.acknowledge is not None:
            source.acknowledge(item.acknowledge)


@dataclass(frozen=True)
class _Done:
    batch: ChangeBatch | None
    acknowledge: Position | None
    applied: int
    finished_at: float
    """Epoch seconds when the last target committed (for lag)."""


class _Applier:
    """One thread applying batches to every target in order, one at a time."""

    def __init__(self, targets: list[CdcTarget], key: list[str]) -> None:
        self._targets, self._key = targets, key
        self._todo: queue.Queue[tuple[ChangeBatch | None, Position | None] | None] = queue.Queue(maxsize=1)
        self._done: queue.Queue[_Done] = queue.Queue()
        self._lock = threading.Lock()
        self._pending = 0  # submitted, not yet applied
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cdc-apply", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._pending == 0

    def submit(self, batch: ChangeBatch | None, acknowledge: Position | None) -> None:
        """Queue a batch (None: nothing to apply, only a position to acknowledge); waits while one is queued."""
        with self._lock:
            self._pending += 1
        while True:
            self.raise_failure()
            try:
                self._todo.put((batch, acknowledge), timeout=0.2)
                return
            except queue.Full:
                continue

    def finished(self) -> list[_Done]:
        out: list[_Done] = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def wait_idle(self, each: Callable[[list[_Done]], None]) -> None:
        """Until every submitted batch is applied (handing each finished one to `each`)."""
        while not self.idle:
            self.raise_failure()
            each(self.finished())
            time.sleep(0.01)
        self.raise_failure()
        each(self.finished())

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        while True:
            item = self._todo.get()
            if item is None:
                return
            batch, acknowledge = item
            try:
                applied = max(t.apply(batch, self._key) for t in self._targets) if batch is not None else 0
                self._done.put(_Done(batch, acknowledge, applied, time.time()))
            except BaseException as exc:  # noqa: BLE001 - re-raised on the decoding thread
                self._failure = exc
                return
            finally:
                with self._lock:
                    self._pending -= 1

    def close(self) -> None:
        if self._thread.is_alive() and self._failure is None:
            self._todo.put(None)
            self._thread.join()


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass(frozen=True)
class TargetStatus:
    target: str
    position: str
    """As the source spells it; `-` before the first load."""


@dataclass(frozen=True)
class CdcStatus:
    name: str
    source: str
    state: str
    """running (its process is alive), stopped, failed, killed (its process died), never run."""
    applied_position: str
    source_position: str
    lag_bytes: int | None
    lag_seconds: float | None
    lag_seconds_p99: float | None
    rows_per_second: float
    changes: int
    snapshot_rows: int
    stream: str
    """ok, or why the source no longer holds the stream (the re-snapshot command)."""
    targets: list[TargetStatus] = field(default_factory=list)
    error: str | None = None


def cdc_status(spec: CdcSpec, *, catalog: Catalog, root: Path) -> CdcStatus:
    """Lag (bytes from the source, seconds from the last apply), positions and rates of `spec`'s job."""
    report = read_report(root, spec.name)
    source = open_source(spec)
    try:
        targets = open_targets(spec, catalog, root)
        positions = [t.position() for t in targets]
        known = [p for p in positions if p is not None]
        applied = min(known) if known else None
        lag = source.lag(applied)
        stream = "ok"
        if known and not source.stream_exists(applied):
            stream = str(SlotLostError("the source no longer holds this job's stream", position=source.format(applied),
                                       spec_file=spec.file))
        for target in targets:
            target.close()
    finally:
        source.close()
    state = "never run" if report is None else report.state
    if report is not None and report.state == "running" and not _alive(report.pid):
        state = "killed"
    return CdcStatus(
        spec.name, f"{spec.source.type}:{spec.source.table}", state, source.format(applied), lag.source_position,
        lag.bytes, report.lag_seconds if report else None, report.lag_seconds_p99 if report else None,
        report.rows_per_second if report else 0.0, report.changes if report else 0,
        report.snapshot_rows if report else 0, stream,
        [TargetStatus(t.name, source.format(p)) for t, p in zip(targets, positions, strict=True)],
        report.error if report else None,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

