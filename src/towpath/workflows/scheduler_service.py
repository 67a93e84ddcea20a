"""`towpath schedule run` as a service: one per project, concurrent, retried, observable, stoppable.

The loop checks which dailies are due (`scheduler.due_workflows`) every
`interval` seconds and runs each firing in a forked child process, so runs
are truly parallel (up to `max_concurrent`, never two of one workflow at
once), a cancel is a signal the run records as `interrupted`, and a crash of
one run never takes the scheduler down. One scheduler per project holds the
state room's `scheduler` lease (pid, host, heartbeat): a second one refuses,
naming the holder. A failed firing is retried `retries` times with
exponential backoff; a success after a failure sends a `recovery` notice
through the project's notification channels (failures are already noticed by
the daily run itself). SIGTERM stops firing, lets running work finish
(`on_stop="finish"`) or interrupts it (`"cancel"`, also a second SIGTERM),
and records every run either way. Metrics for Prometheus on `metrics_port`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any, Literal

from towpath.errors import TowpathError
from towpath.workflows.context import Workspace
from towpath.workflows.scheduler import CatchUp, Firing, due_workflows

log = logging.getLogger(__name__)

LEASE = "scheduler"
OnStop = Literal["finish", "cancel"]


@dataclass(frozen=True)
class SchedulerOptions:
    """How the service fires: `towpath schedule run`'s options."""

    interval: float = 30.0
    """Seconds between checks for due workflows."""
    catchup: CatchUp = "latest"
    max_concurrent: int = 1
    retries: int = 0
    """Extra attempts of a failed firing."""
    retry_delay: float = 60.0
    """Seconds before the first retry; doubled for each further one, at most `max_retry_delay`."""
    max_retry_delay: float = 3600.0
    on_stop: OnStop = "finish"
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt 1 failed: `retry_delay`)."""
        return float(min(self.retry_delay * 2 ** (attempt - 1), self.max_retry_delay))


@dataclass(frozen=True)
class Outcome:
    """How one attempt of one firing ended."""

    workflow_id: str
    today: str
    reason: str
    attempt: int
    ok: bool
    error: str | None
    duration_s: float
    cancelled: bool = False
    retry_in_s: float | None = None
    """Seconds until the next attempt, when it will be retried."""


@dataclass
class _Pending:
    firing: Firing
    attempt: int = 1
    not_before: float = 0.0


@dataclass
class _Running:
    pending: _Pending
    process: BaseProcess
    reply: multiprocessing.connection.Connection
    started: float = field(default_factory=time.monotonic)


OpenWorkspace = Callable[[], Workspace]
"""Opens the project afresh (in each run's child process: nothing is shared across a fork)."""


class SchedulerService:
    """The scheduler of one project; `run()` until stopped."""

    def __init__(
        self,
        project: Workspace,
        open_workspace: OpenWorkspace,
        options: SchedulerOptions | None = None,
        *,
        on_outcome: Callable[[Outcome], Any] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.project = project
        self.open_workspace = open_workspace
        self.options = options or SchedulerOptions()
        self.on_outcome = on_outcome
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.stopping = False
        self.cancelling = False
        self._pending: list[_Pending] = []
        self._running: dict[str, _Running] = {}
        self._outcomes: list[Outcome] = []
        self._drain = False
        self._metrics = _Metrics.create()

    # -- control --------------------------------------------------------------------------------

    def stop(self, *, cancel: bool | None = None) -> None:
        """Fire nothing more; let running work finish, or interrupt it (`cancel`; default: `on_stop`).

        A second call without `cancel` (a second SIGTERM) interrupts.
        """
        if cancel is None:
            cancel = self.stopping or self.options.on_stop == "cancel"
        self.stopping, self._drain = True, False
        if cancel:
            self.cancelling = True
            for running in self._running.values():
                if running.process.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(running.process.pid, signal.SIGINT)  # the run records itself `interrupted`

    def run(self, *, once: bool = False, checks: int | None = None) -> list[Outcome]:
        """Check, fire and reap until stopped; returns every attempt's outcome.

        `once` checks once and finishes what it found (retries included); `checks` does that
        after that many checks (a test drives the clock through them).

        Raises:
            LeaseHeldError: another live scheduler serves this project (its pid and host).
        """
        ttl = max(3 * self.options.interval, 60.0)
        lease = self.project.state.leases.acquire(lease_name(self.project), ttl_s=ttl)
        since = self.clock()
        server = self._metrics.serve(self.options.metrics_host, self.options.metrics_port)
        limit = 1 if once else checks
        done_checks, next_check = 0, 0.0
        try:
            while True:
                if not self.stopping and time.monotonic() >= next_check:
                    self._check(since)
                    done_checks += 1
                    next_check = time.monotonic() + self.options.interval
                    if limit is not None and done_checks >= limit:
                        self.stopping, self._drain = True, True  # finish what the checks found
                if not self.cancelling and (not self.stopping or self._drain):
                    self._launch()
                if self.stopping and not self._running and not (self._drain and self._pending):
                    break
                self._wait(next_check)
                lease = self.project.state.leases.renew(lease)
        finally:
            if self._running:
                self.stop(cancel=True)
                for running in self._running.values():
                    running.process.join()
                self._reap_all()
            self.project.state.leases.release(lease)
            if server is not None:
                server.shutdown()
        return self._outcomes

    def metrics_text(self) -> str:
        """The Prometheus text `/metrics` serves."""
        from prometheus_client import generate_latest

        return generate_latest(self._metrics.registry).decode()

    # -- the loop's parts ---------------------------------------------------------------------

    def _check(self, since: dt.datetime) -> None:
        try:
            firings = due_workflows(self.project, self.clock(), catchup=self.options.catchup, since=since)
        except TowpathError as exc:  # a broken workflow file must not stop the others: say it, go on
            log.error("cannot check for due workflows: %s", exc)
            return
        busy = {p.firing.key for p in self._pending} | {r.pending.firing.key for r in self._running.values()}
        for firing in firings:
            if firing.key not in busy:
                self._pending.append(_Pending(firing))
                busy.add(firing.key)

    def _launch(self) -> None:
        now = time.monotonic()
        for pending in list(self._pending):
            if len(self._running) >= self.options.max_concurrent:
                return
            workflow = pending.firing.workflow_id
            if workflow in self._running or pending.not_before > now:
                continue
            if any(p.firing.workflow_id == workflow for p in self._pending[: self._pending.index(pending)]):
                continue  # an older slot of the same workflow goes first (catch-up runs in order)
            self._pending.remove(pending)
            self._running[workflow] = self._start(pending)
            self._metrics.running.set(len(self._running))

    def _start(self, pending: _Pending) -> _Running:
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_run_firing, args=(self.open_workspace, pending.firing, pending.attempt, send),
            name=f"towpath-daily-{pending.firing.workflow_id}", daemon=False,
        )
        process.start()
        send.close()
        log.info("firing %s for %s (attempt %d): %s", pending.firing.workflow_id, pending.firing.today,
                 pending.attempt, pending.firing.reason)
        return _Running(pending, process, receive)

    def _wait(self, next_check: float) -> None:
        """Until a run ends, the next check or retry is due, or a stop comes (polled twice a second)."""
        deadlines = [next_check] if not self.stopping else []
        now = time.monotonic()
        deadlines += [p.not_before for p in self._pending if p.not_before > now]  # the rest wait for a free slot
        until = min(deadlines) if deadlines else time.monotonic() + max(self.options.interval, 1.0)
        sentinels = [r.process.sentinel for r in self._running.values()]
        stopping = self.stopping
        while time.monotonic() < until and self.stopping == stopping:
            slice_s = min(until - time.monotonic(), 0.5)
            if sentinels:
                if multiprocessing.connection.wait(sentinels, max(slice_s, 0.0)):
                    break
            else:
                time.sleep(max(slice_s, 0.0))
        self._reap_all()

    def _reap_all(self) -> None:
        for workflow, running in list(self._running.items()):
            if running.process.is_alive():
                continue
            running.process.join()
            del self._running[workflow]
            self._metrics.running.set(len(self._running))
            self._finish(running)

    def _finish(self, running: _Running) -> None:
        pending, firing = running.pending, running.pending.firing
        reply: dict[str, Any] = {}
        with contextlib.suppress(EOFError, OSError):
            if running.reply.poll():
                reply = running.reply.recv()
        running.reply.close()
        if not reply:
            reply = {"ok": False, "error": f"the run's process died (exit code {running.process.exitcode})"}
        ok, cancelled = bool(reply.get("ok")), bool(reply.get("cancelled"))
        retry_in = None
        if not ok and not cancelled and not self.cancelling and pending.attempt <= self.options.retries:
            retry_in = self.options.backoff(pending.attempt)
            self._pending.insert(0, _Pending(firing, pending.attempt + 1, time.monotonic() + retry_in))
            self._metrics.retries.labels(firing.workflow_id).inc()
        outcome = Outcome(
            firing.workflow_id, firing.today, firing.reason, pending.attempt, ok, reply.get("error"),
            round(time.monotonic() - running.started, 3), cancelled, retry_in,
        )
        result = "success" if ok else "cancelled" if cancelled else "failed"
        self._metrics.firings.labels(firing.workflow_id, result).inc()
        self._metrics.duration.labels(firing.workflow_id).observe(outcome.duration_s)
        if ok:
            self._metrics.last_success.labels(firing.workflow_id).set(time.time())
        self._outcomes.append(outcome)
        if self.on_outcome:
            self.on_outcome(outcome)


def _run_firing(
    open_workspace: OpenWorkspace, firing: Firing, attempt: int, reply: multiprocessing.connection.Connection,
) -> None:
    """In the child: run the daily for the firing, notice a recovery, and send back how it ended."""
    from towpath.workflows.daily import run_daily

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    message: dict[str, Any]
    try:
        project = open_workspace()
        before = project.state.list_runs(workflow_id=firing.workflow_id, kind="daily", limit=1)
        result = run_daily(project, firing.path, today=firing.today, annotations=firing.annotations)
        message = {"ok": result.ok, "error": result.error}
        if result.ok and before and before[0].status != "success":
            _notify_recovery(project, firing, attempt, before[0].run_id)
    except KeyboardInterrupt:
        message = {"ok": False, "cancelled": True, "error": "interrupted: the scheduler stopped"}
    except TowpathError as exc:
        message = {"ok": False, "error": f"could not start: {exc}"}
    reply.send(message)
    reply.close()


def _notify_recovery(project: Workspace, firing: Firing, attempt: int, failed_run: str) -> None:
    """A success after a failure is news too: the people told of the failure hear it is over."""
    from towpath.notify import Notice, Notifier

    try:
        notifier = Notifier.for_project(project.root, project.config)
    except TowpathError as exc:
        log.error("cannot send the recovery notice of %s: %s", firing.workflow_id, exc)
        return
    notifier.send(Notice(
        kind="recovery",
        subject=f"towpath: daily {firing.workflow_id} recovered",
        body=(f"**{firing.workflow_id}** succeeded for {firing.today} (attempt {attempt}) "
              f"after run `{failed_run}` failed.\n"),
        data={"workflow_id": firing.workflow_id, "today": firing.today, "attempt": attempt,
              "failed_run_id": failed_run},
        key=f"recovery-{firing.workflow_id}-{firing.today}-{failed_run}",
    ))


@dataclass
class _Metrics:
    """The service's Prometheus metrics, in a registry of its own (not the process-global one)."""

    registry: Any
    firings: Any
    retries: Any
    running: Any
    duration: Any
    last_success: Any

    @classmethod
    def create(cls) -> _Metrics:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        registry = CollectorRegistry()
        return cls(
            registry,
            Counter("towpath_scheduler_firings", "Finished firings by workflow and result.",
                    ["workflow", "result"], registry=registry),
            Counter("towpath_scheduler_retries", "Retries scheduled after a failed firing.", ["workflow"],
                    registry=registry),
            Gauge("towpath_scheduler_running", "Firings running now.", registry=registry),
            Histogram("towpath_scheduler_run_seconds", "Wall time of a firing.", ["workflow"], registry=registry,
                      buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600)),
            Gauge("towpath_scheduler_last_success_timestamp_seconds", "When the workflow last succeeded.",
                  ["workflow"], registry=registry),
        )

    def serve(self, host: str, port: int | None) -> Any:
        if port is None:
            return None
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server


def lease_name(project: Workspace) -> str:
    """One scheduler per project and environment: `scheduler`, or `scheduler@feature_x` in an environment."""
    env = project.state.env
    return LEASE if env is None else f"{LEASE}@{env}"


def lease_holder(project: Workspace) -> Any:
    """The running scheduler's lease (pid, host, since), or None."""
    return project.state.leases.holder(lease_name(project), ttl_s=3600.0)


